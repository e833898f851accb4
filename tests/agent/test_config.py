import pytest

from collectors.agent.__main__ import main
from collectors.agent.config import ConfigError, parse_config

REQUIRED = ["--server", "http://greenai.example:8000", "--token", "gac_x"]


def test_defaults_follow_design():
    config = parse_config(REQUIRED, environ={"HOME": "/home/u"})
    assert config.sources == ("nvml",)
    assert config.interval_s == 1.0
    assert config.push_every_s == 10.0
    assert config.metrics_port == 0
    assert config.once is False
    assert config.spool_max_mb == 100
    assert config.hostname


def test_every_option_reads_its_environment_variable(tmp_path):
    environ = {
        "GREENAI_SERVER": "https://greenai.example/",
        "GREENAI_TOKEN": "gac_env",
        "GREENAI_SOURCE": "sim:2, rapl",
        "GREENAI_INTERVAL": "0.5",
        "GREENAI_PUSH_EVERY": "30",
        "GREENAI_SPOOL_DIR": str(tmp_path),
        "GREENAI_METRICS_PORT": "9417",
        "GREENAI_HOSTNAME": "gpu-node-07",
        "GREENAI_ONCE": "true",
        "GREENAI_SPOOL_MAX_MB": "5",
    }
    config = parse_config([], environ=environ)
    assert config.server == "https://greenai.example"
    assert config.token == "gac_env"
    assert config.sources == ("sim:2", "rapl")
    assert (config.interval_s, config.push_every_s) == (0.5, 30.0)
    assert config.spool_dir == tmp_path
    assert (config.metrics_port, config.hostname, config.once) == (9417, "gpu-node-07", True)
    assert config.spool_max_bytes == 5 * 1024 * 1024


def test_command_line_wins_over_environment():
    environ = {"GREENAI_SERVER": "http://env", "GREENAI_TOKEN": "env", "GREENAI_SOURCE": "rapl"}
    config = parse_config(["--token", "cli", "--source", "sim:1", "--source", "nvml"], environ)
    assert config.token == "cli"
    assert config.sources == ("sim:1", "nvml")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "--server"),
        (["--server", "ftp://x", "--token", "t"], "http:// or https://"),
        (["--server", "http://x"], "--token"),
        (REQUIRED + ["--source", "gpu"], "unknown source 'gpu'"),
        (REQUIRED + ["--source", "sim:0"], "sim needs a GPU count"),
        (REQUIRED + ["--source", "sim:2", "--source", "sim:3"], "given once"),
        (REQUIRED + ["--source", "replay:/nonexistent.jsonl"], "does not exist"),
        (REQUIRED + ["--interval", "fast"], "--interval must be a number"),
        (REQUIRED + ["--interval", "0"], "--interval must be between"),
        (REQUIRED + ["--interval", "5", "--push-every", "2"], "at least --interval"),
        (REQUIRED + ["--metrics-port", "70000"], "--metrics-port"),
        (REQUIRED + ["--spool-max-mb", "-1"], "--spool-max-mb"),
        (REQUIRED + ["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_options_name_what_is_wrong(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(argv, environ={})


def test_bad_environment_value_is_refused():
    with pytest.raises(ConfigError, match="GREENAI_ONCE"):
        parse_config(REQUIRED, environ={"GREENAI_ONCE": "maybe"})


def test_replay_cannot_be_mixed_with_live_sources(tmp_path):
    trace = tmp_path / "t.jsonl"
    trace.write_text("")
    with pytest.raises(ConfigError, match="cannot be combined"):
        parse_config(REQUIRED + ["--source", f"replay:{trace}", "--source", "sim:1"], environ={})


def test_main_prints_the_error_and_exits_2(capsys, monkeypatch):
    monkeypatch.delenv("GREENAI_SERVER", raising=False)
    monkeypatch.delenv("GREENAI_TOKEN", raising=False)
    assert main(["--token", "t"]) == 2
    err = capsys.readouterr().err
    assert "error: --server (or GREENAI_SERVER) is required" in err
