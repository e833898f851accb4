import pytest

from collectors.agent.__main__ import main
from collectors.agent.config import ConfigError, parse_config

REQUIRED = ["--server", "http://greenai.example:8000", "--token", "gac_x"]


def test_defaults_follow_design():
    config = parse_config(REQUIRED, environ={"HOME": "/home/u"})
    assert config.sources == ("nvml",)
    assert config.interval_s == 1.0
    assert config.sample_s == 10.0
    assert config.push_every_s == 10.0
    assert config.metrics_port == 0
    assert config.once is False
    assert config.spool_max_mb == 100
    assert config.stop_flush_s == 10.0  # well inside Kubernetes' 30 s grace period
    assert config.hostname


def test_every_option_reads_its_environment_variable(tmp_path):
    environ = {
        "GREENAI_SERVER": "https://greenai.example/",
        "GREENAI_TOKEN": "gac_env",
        "GREENAI_SOURCE": "sim:2, rapl",
        "GREENAI_INTERVAL": "0.5",
        "GREENAI_SAMPLE_SECONDS": "60",
        "GREENAI_PUSH_EVERY": "30",
        "GREENAI_SPOOL_DIR": str(tmp_path),
        "GREENAI_METRICS_PORT": "9417",
        "GREENAI_HOSTNAME": "gpu-node-07",
        "GREENAI_ONCE": "true",
        "GREENAI_SPOOL_MAX_MB": "5",
        "GREENAI_STOP_FLUSH_SECONDS": "0",
    }
    config = parse_config([], environ=environ)
    assert config.server == "https://greenai.example"
    assert config.token == "gac_env"
    assert config.sources == ("sim:2", "rapl")
    assert (config.interval_s, config.sample_s, config.push_every_s) == (0.5, 60.0, 30.0)
    assert config.spool_dir == tmp_path
    assert (config.metrics_port, config.hostname, config.once) == (9417, "gpu-node-07", True)
    assert config.spool_max_bytes == 5 * 1024 * 1024
    assert config.stop_flush_s == 0.0


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
        (REQUIRED + ["--sample-seconds", "ten"], "--sample-seconds must be a number"),
        (REQUIRED + ["--sample-seconds", "3601"], "--sample-seconds must be between"),
        (REQUIRED + ["--metrics-port", "70000"], "--metrics-port"),
        (REQUIRED + ["--spool-max-mb", "-1"], "--spool-max-mb"),
        (REQUIRED + ["--stop-flush-seconds", "-1"], "--stop-flush-seconds must be between"),
        (REQUIRED + ["--stop-flush-seconds", "soon"], "--stop-flush-seconds must be a number"),
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


SERVER = ["--server", "https://greenai.example"]


def test_token_file_is_read_and_stripped(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("  gac_from_file\n")
    assert parse_config([*SERVER, "--token-file", str(token_file)], {}).token == "gac_from_file"
    environ = {"GREENAI_TOKEN_FILE": str(token_file)}
    assert parse_config(SERVER, environ).token == "gac_from_file"


def test_token_on_the_command_line_wins_over_a_token_file_in_the_environment(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("gac_from_file")
    config = parse_config([*SERVER, "--token", "gac_cli"], {"GREENAI_TOKEN_FILE": str(token_file)})
    assert config.token == "gac_cli"
    config = parse_config([*SERVER, "--token-file", str(token_file)], {"GREENAI_TOKEN": "gac_env"})
    assert config.token == "gac_from_file"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read .*No such file or directory"),
        ("", "is empty"),
        ("  \n\n", "is empty"),
        ("gac_one\ngac_two\n", "the token alone, on one line"),
        (b"\xff\xfe", "cannot read"),
    ],
)
def test_token_file_problems_are_configuration_errors(tmp_path, content, message):
    token_file = tmp_path / "token"
    if isinstance(content, bytes):
        token_file.write_bytes(content)
    elif content is not None:
        token_file.write_text(content)
    with pytest.raises(ConfigError, match=f"--token-file: .*{message}"):
        parse_config([*SERVER, "--token-file", str(token_file)], {})


def test_a_directory_as_token_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match="--token-file: cannot read"):
        parse_config([*SERVER, "--token-file", str(tmp_path)], {})


def test_token_and_token_file_together_are_refused(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("gac_x")
    with pytest.raises(ConfigError, match="not both"):
        parse_config([*SERVER, "--token", "t", "--token-file", str(token_file)], {})
    with pytest.raises(ConfigError, match="not both"):
        parse_config(SERVER, {"GREENAI_TOKEN": "t", "GREENAI_TOKEN_FILE": str(token_file)})


def test_main_exits_2_on_a_missing_token_file(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GREENAI_TOKEN", raising=False)
    assert main([*SERVER, "--token-file", str(tmp_path / "missing")]) == 2
    assert "error: --token-file: cannot read" in capsys.readouterr().err
