"""Real processes for integration tests: the web app under gunicorn and Celery workers.

They run against the test database that pytest-django created, so tests that use them need
committed data (the `transactional_db` or `live_server` fixtures).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or "postgres"
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment a child process needs to share this test run's database and broker."""
    env = os.environ.copy()
    env["DATABASE_URL"] = test_database_url()
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class ManagedProcess:
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.args = args
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def stop(self, sig=signal.SIGTERM, timeout: float = 15):
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class WebServer(ManagedProcess):
    """gunicorn serving the app on 127.0.0.1:<port>; can be stopped and started again."""

    def __init__(
        self,
        tmp_path: Path,
        port: int | None = None,
        workers: int = 2,
        extra_args: list[str] | None = None,
        **env: str,
    ):
        self.port = port or free_port()
        args = [
            sys.executable,
            "-m",
            "gunicorn",
            "greenai_site.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--graceful-timeout",
            "5",
            "--timeout",
            "60",
            *(extra_args or []),
        ]
        super().__init__(args, subprocess_env(**env), tmp_path / f"gunicorn-{self.port}.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        super().start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log()}")
            try:
                requests.get(f"{self.url}/metrics", timeout=1)
                return self
            except (requests.ConnectionError, requests.Timeout):  # busy CI: a worker boots slowly
                time.sleep(0.2)
        self.stop()  # never leave a server behind that no fixture will stop
        raise RuntimeError(f"gunicorn did not answer within 30 s:\n{self.log()}")


class CeleryWorker(ManagedProcess):
    """A real Celery worker process consuming from the configured broker."""

    def __init__(self, tmp_path: Path, name: str = "w1", concurrency: int = 1, **env: str):
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "greenai_site",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            str(concurrency),
            "--pool",
            "prefork",
            "--hostname",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
        super().__init__(args, subprocess_env(**env), tmp_path / f"celery-{name}.log")

    def start(self):
        super().start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{self.log()}")
            if "ready." in self.log():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready within 60 s:\n{self.log()}")
