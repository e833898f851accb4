"""Command line and environment of the prometheus: and dcgm: sources."""

import pytest

from collectors.agent.config import ConfigError, parse_config
from collectors.agent.sources import create_source
from collectors.agent.sources.dcgm import DcgmSource
from collectors.agent.sources.prometheus import PrometheusSource

REQUIRED = ["--server", "http://greenai.example:8000", "--token", "gac_x"]


def test_telemetry_sources_take_urls_and_several_may_be_read_at_once():
    config = parse_config(
        REQUIRED
        + [
            "--source",
            "prometheus:https://prometheus.monitoring:9090",
            "--source",
            "dcgm:http://node-1:9400,dcgm:http://node-2:9400/metrics",
        ],
        environ={},
    )
    assert config.sources == (
        "prometheus:https://prometheus.monitoring:9090",
        "dcgm:http://node-1:9400",
        "dcgm:http://node-2:9400/metrics",
    )


def test_every_prometheus_option_reads_its_environment_variable(tmp_path):
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    ca, cert, key = (tmp_path / name for name in ("ca.pem", "client.pem", "client.key"))
    for path in (ca, cert, key):
        path.write_text("x")
    environ = {
        "GREENAI_SERVER": "http://s",
        "GREENAI_TOKEN": "t",
        "GREENAI_SOURCE": "prometheus:http://prom:9090",
        "GREENAI_PROMETHEUS_BEARER_TOKEN_FILE": str(token),
        "GREENAI_PROMETHEUS_CA_FILE": str(ca),
        "GREENAI_PROMETHEUS_CERT_FILE": str(cert),
        "GREENAI_PROMETHEUS_KEY_FILE": str(key),
        "GREENAI_PROMETHEUS_INSECURE_SKIP_VERIFY": "yes",
        "GREENAI_PROMETHEUS_SELECTOR": '{cluster="prod"}',
    }
    config = parse_config([], environ=environ)
    assert config.http.bearer_token_file == str(token)
    assert (config.http.ca_file, config.http.cert_file, config.http.key_file) == (
        str(ca),
        str(cert),
        str(key),
    )
    assert config.http.insecure_skip_verify is True
    assert config.prometheus_selector == 'cluster="prod"'
    source = create_source(
        config.sources[0],
        hostname="h",
        interval_s=1.0,
        push_every_s=15.0,
        http=config.http,
        prometheus_selector=config.prometheus_selector,
    )
    assert isinstance(source, PrometheusSource)
    assert (source.url, source.poll_every_s, source.selector) == (
        "http://prom:9090",
        15.0,
        'cluster="prod"',
    )
    assert source.getter.headers()["Authorization"] == "Bearer t0ken"


def test_basic_auth_options(tmp_path):
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    config = parse_config(
        REQUIRED
        + ["--prometheus-username", "greenai", "--prometheus-password-file", str(password)],
        environ={},
    )
    assert (config.http.username, config.http.password_file) == ("greenai", str(password))


def test_dcgm_url_without_a_path_means_its_metrics_page():
    source = create_source("dcgm:http://node-1:9400", hostname="h", interval_s=1.0)
    assert isinstance(source, DcgmSource)
    assert source.url == "http://node-1:9400/metrics"
    assert source.key == "dcgm:http://node-1:9400/metrics"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source", "prometheus:"], "prometheus needs an http"),
        (["--source", "prometheus:prom:9090"], "prometheus needs an http"),
        (["--source", "dcgm:ftp://node:9400"], "dcgm needs an http"),
        (["--source", "dcgm:http://a:9400", "--source", "dcgm:http://a:9400/"], "given once"),
        (["--prometheus-bearer-token-file", "/nonexistent"], "no such file"),
        (["--prometheus-ca-file", "/nonexistent.pem"], "no such file"),
        (["--prometheus-bearer-token", "a", "--prometheus-username", "u"], "not both"),
        (["--prometheus-password", "p"], "needs --prometheus-username"),
        (
            ["--prometheus-username", "u", "--prometheus-password", "p"]
            + ["--prometheus-password-file", "/etc/hostname"],
            "not both",
        ),
        (["--prometheus-key-file", "/etc/hostname"], "needs --prometheus-cert-file"),
        (["--prometheus-selector", 'a="b"}{'], "label matchers"),
    ],
)
def test_bad_telemetry_options_name_what_is_wrong(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(REQUIRED + argv, environ={})


def test_bad_insecure_flag_in_the_environment_is_refused():
    with pytest.raises(ConfigError, match="GREENAI_PROMETHEUS_INSECURE_SKIP_VERIFY"):
        parse_config(REQUIRED, environ={"GREENAI_PROMETHEUS_INSECURE_SKIP_VERIFY": "maybe"})
