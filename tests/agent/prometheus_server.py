"""The real Prometheus server (Debian's `prometheus` package) for the agent's tests: started as
a plain process on a free port with a temporary database, scraping the given targets every
second. Not the systemd service: every test gets its own empty server.
"""

import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

PROMETHEUS = shutil.which("prometheus") or (
    "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
)
MISSING = (
    "the prometheus binary is not installed (Debian package `prometheus`; "
    "scripts/install-system-packages.sh installs it)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrometheusServer:
    def __init__(
        self,
        tmp_path: Path,
        targets: list[str],
        *,
        honor_labels: bool = True,
        target_labels: dict | None = None,
        web_config: dict | None = None,
        client_context: ssl.SSLContext | None = None,
        client_headers: dict | None = None,
        extra_scrape_configs: list[dict] | None = None,
    ):
        """web_config: Prometheus' --web.config.file (TLS, basic auth); client_context and
        client_headers are what the tests' own requests then need; extra_scrape_configs are
        further jobs (e.g. serving engines with their pod labels)."""
        self.directory = tmp_path / "prometheus"
        self.directory.mkdir()
        self.port = free_port()
        self.web_config = web_config
        self.scheme = "https" if web_config and "tls_server_config" in web_config else "http"
        self.client_context = client_context
        self.client_headers = client_headers or {}
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {
                    "job_name": "dcgm-exporter",
                    "honor_labels": honor_labels,
                    "static_configs": [{"targets": targets, "labels": target_labels or {}}],
                },
                *(extra_scrape_configs or []),
            ],
        }
        # JSON is YAML: no YAML writer needed.
        (self.directory / "prometheus.yml").write_text(json.dumps(config))
        self.log_path = self.directory / "prometheus.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def _get(self, path: str, timeout: float):
        request = urllib.request.Request(f"{self.url}{path}", headers=self.client_headers)
        return urllib.request.urlopen(request, timeout=timeout, context=self.client_context)

    def __enter__(self):
        log = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the process
        args = [
            PROMETHEUS,
            f"--config.file={self.directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        if self.web_config:
            (self.directory / "web.yml").write_text(json.dumps(self.web_config))
            args.append(f"--web.config.file={self.directory / 'web.yml'}")
        self.process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with self._get("/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.__exit__()
                raise AssertionError(f"prometheus did not start:\n{self.log_path.read_text()}")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def query(self, query: str) -> list:
        path = f"/api/v1/query?{urllib.parse.urlencode({'query': query})}"
        with self._get(path, timeout=5) as answer:
            return json.loads(answer.read())["data"]["result"]

    def wait_for_points(self, metric: str, series: int, points: int, timeout: float = 20) -> None:
        """Until `series` series of metric hold at least `points` scraped points each."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(f"count_over_time({metric}[1m]) >= {points}")
            if len(result) >= series:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"prometheus has {result} for {metric}")
            time.sleep(0.2)
