"""Failure paths of the telemetry sources: each is a SourceError naming the cause, at start or
on a read, and a failed read loses no energy."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from collectors.agent.sources import SourceError
from collectors.agent.sources.dcgm import DcgmSource
from collectors.agent.sources.httpget import HttpGetter, HttpOptions
from collectors.agent.sources.prometheus import PrometheusSource
from tests.agent.dcgm_exporter_fixture import DcgmExporterFixture, ExportedGpu


class Clock:
    def __init__(self, now=1_795_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def html_server():
    """A web server that answers every GET with a 200 HTML page: not what either source wants."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            data = b"<html><body>Grafana</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_prometheus_url_that_is_not_prometheus_fails_at_start(html_server):
    source = PrometheusSource(html_server, hostname="h", poll_every_s=10.0)
    with pytest.raises(SourceError, match="cannot be queried .*not JSON: is it Prometheus"):
        source.open()


def test_metrics_page_that_is_not_exposition_format_fails_at_start(html_server):
    source = DcgmSource(f"{html_server}/metrics", poll_every_s=10.0)
    with pytest.raises(SourceError, match="cannot be read"):
        source.open()


def test_exporter_without_gpu_series_fails_at_start():
    with DcgmExporterFixture([], hostname="h") as exporter:
        source = DcgmSource(exporter.url, poll_every_s=10.0)
        with pytest.raises(SourceError, match="no DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"):
            source.open()


def test_failed_read_is_an_error_and_the_next_read_covers_the_missed_time():
    clock = Clock()
    gpu = ExportedGpu("GPU-1", 0, 250.0)
    with DcgmExporterFixture([gpu], hostname="node", clock=clock) as exporter:
        source = DcgmSource(exporter.url, poll_every_s=10.0, clock=clock)
        source.open()
        clock.now += 10.0
        exporter.required_authorization = "Bearer now-required"
        with pytest.raises(SourceError, match="HTTP 401"):
            source.read()
        exporter.required_authorization = None
        clock.now += 10.0
        (sample,) = source.read()
    assert (sample.duration_s, sample.energy_j) == (20.0, 5000.0)


def test_unreadable_token_file_is_a_read_error_naming_the_file(tmp_path):
    getter = HttpGetter(HttpOptions(bearer_token_file=str(tmp_path / "gone")))
    with pytest.raises(SourceError, match="cannot read the bearer token file"):
        getter.headers()


def test_ca_file_that_is_not_a_certificate_is_an_error_naming_the_tls_files(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate")
    getter = HttpGetter(HttpOptions(ca_file=str(ca)))
    with pytest.raises(SourceError, match="cannot load the TLS files"):
        getter.get("https://127.0.0.1:9/")


def test_basic_auth_header_carries_the_password_from_its_file(tmp_path):
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    getter = HttpGetter(HttpOptions(username="greenai", password_file=str(password)))
    assert getter.headers()["Authorization"] == "Basic Z3JlZW5haTpzM2NyZXQ="


def test_a_failure_while_catching_up_keeps_the_windows_already_read(monkeypatch):
    clock = Clock()
    source = PrometheusSource(
        "http://prometheus:9090", hostname="h", poll_every_s=10.0, clock=clock
    )
    source.cursor = clock.now - 3600
    answers = iter([{"GPU-1": "first window"}])

    def fetch():
        try:
            answer = next(answers)
        except StopIteration:
            raise SourceError("GET http://prometheus:9090/api/v1/query: timed out") from None
        source.cursor += 900
        source._behind = True
        return answer

    monkeypatch.setattr(source, "fetch", fetch)
    monkeypatch.setattr(source, "samples_from", lambda gpus: [gpus["GPU-1"]])
    assert source.read() == ["first window"]
    assert source.cursor == clock.now - 2700
