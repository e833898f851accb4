"""The real Prometheus server (Debian's `prometheus` package) for the agent's tests: started as
a plain process on a free port with a temporary database, scraping the given targets every
second. Not the systemd service: every test gets its own empty server.
"""

import json
import shutil
import socket
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
    def __init__(self, tmp_path: Path, targets: list[str], *, honor_labels: bool = True):
        self.directory = tmp_path / "prometheus"
        self.directory.mkdir()
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {
                    "job_name": "dcgm-exporter",
                    "honor_labels": honor_labels,
                    "static_configs": [{"targets": targets}],
                }
            ],
        }
        # JSON is YAML: no YAML writer needed.
        (self.directory / "prometheus.yml").write_text(json.dumps(config))
        self.log_path = self.directory / "prometheus.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        log = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={self.directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
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
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
        with urllib.request.urlopen(url, timeout=5) as answer:
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
