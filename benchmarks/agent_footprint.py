"""The agent's own footprint: CPU share of one core and peak memory, `--source sim:8` at 1 Hz.

    .venv/bin/python benchmarks/agent_footprint.py [--seconds 60] [--server app|stub]

The agent runs as its own process for --seconds, pushing every 10 s (the default) with its
Prometheus exporter on, as in production. With --server app (the default) it pushes to the real
app under gunicorn, on a database of its own (greenai_bench_agent on the server of
BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres), created, migrated and
dropped afterwards; --server stub answers 202 from a tiny in-process HTTP server instead (no
database needed). Only the agent process is measured, from /proc/<pid>: CPU time (user +
system) over the run after start-up, divided by the wall time, and VmHWM, the peak resident
memory. Targets: <= 1% of one core and <= 50 MiB.
"""

import argparse
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "greenai_bench_agent"
WARM_UP_S = 5.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def memory_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} missing from /proc/{pid}/status")


def wait_for(url: str, process: subprocess.Popen, log_path: Path) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early; see {log_path}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not answer; see {log_path}")


# --- the server the agent pushes to ---------------------------------------------------------


def database_url(name: str) -> str:
    base = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


class AppServer:
    """The real app under gunicorn on a fresh database; a collector token for the agent."""

    def __init__(self, work: Path):
        self.work = work
        self.process = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        import psycopg

        with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {BENCH_DB}")
        env = os.environ.copy()
        env.update(DATABASE_URL=database_url(BENCH_DB), LOG_LEVEL="WARNING")
        manage = [sys.executable, "manage.py"]
        migrate = subprocess.run(
            [*manage, "migrate", "--verbosity", "0"], cwd=ROOT, env=env, capture_output=True
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{migrate.stderr.decode()[-2000:]}")
        output = subprocess.run(
            [*manage, "createcollector", "bench-agent"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        self.token = next(word for word in output.split() if word.startswith("gac"))
        log_path = self.work / "gunicorn.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "greenai_site.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
            ],
            cwd=ROOT,
            env=env,
            stdout=open(log_path, "wb"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(f"{self.url}/metrics", self.process, log_path)
        return self

    def stored_samples(self) -> int:
        import psycopg

        with psycopg.connect(database_url(BENCH_DB)) as conn:
            return conn.execute("SELECT count(*) FROM collectors_rawsample").fetchone()[0]

    def __exit__(self, *exc):
        import psycopg

        if self.process:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
        with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


class StubServer:
    """Answers every batch with 202, in this process (not measured)."""

    def __init__(self, work: Path):
        from tests.agent.fake_server import FakeServer

        self.server = FakeServer()
        self.token = "gac_stub"

    def __enter__(self):
        self.server.__enter__()
        self.url = self.server.url
        return self

    def stored_samples(self) -> int:
        return len(self.server.ingest.stored_samples)

    def __exit__(self, *exc):
        self.server.__exit__(*exc)


# --- the measurement ------------------------------------------------------------------------


def measure(server, seconds: float, work: Path) -> dict:
    log_path = work / "agent.log"
    args = [
        sys.executable, "-m", "collectors.agent",
        "--server", server.url,
        "--token", server.token,
        "--source", "sim:8",
        "--interval", "1",
        "--push-every", "10",
        "--spool-dir", str(work / "spool"),
        "--metrics-port", str(free_port()),
        "--hostname", "bench-node-01",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENAI_")}
    agent = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=open(log_path, "wb"),
        stderr=subprocess.STDOUT,  # noqa: SIM115
    )
    try:
        time.sleep(WARM_UP_S)
        start_wall, start_cpu = time.monotonic(), cpu_seconds(agent.pid)
        startup_cpu = start_cpu
        time.sleep(seconds)
        end_wall, end_cpu = time.monotonic(), cpu_seconds(agent.pid)
        peak_kib = memory_kib(agent.pid, "VmHWM")
        rss_kib = memory_kib(agent.pid, "VmRSS")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
    return {
        "cpu_share": (end_cpu - start_cpu) / (end_wall - start_wall),
        "startup_cpu_s": startup_cpu,
        "peak_mib": peak_kib / 1024,
        "rss_mib": rss_kib / 1024,
        "wall_s": end_wall - start_wall,
        "exit": agent.returncode,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--server", choices=["app", "stub"], default="app")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="greenai-agent-bench-"))
    try:
        with (AppServer if args.server == "app" else StubServer)(work) as server:
            figures = measure(server, args.seconds, work)
            stored = server.stored_samples()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    share, peak = figures["cpu_share"], figures["peak_mib"]
    print(f"GreenAI agent footprint, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    print(
        f"agent --source sim:8 --interval 1 --push-every 10, metrics exporter on, pushing to "
        f"the {'app under gunicorn' if args.server == 'app' else 'stub server'} for "
        f"{figures['wall_s']:.0f} s (after {WARM_UP_S:.0f} s of start-up)"
    )
    print(f"CPU share of one core : {share:8.2%}   (target <= 1%)"
          f" [{'met' if share <= 0.01 else 'NOT met'}]")  # fmt: skip
    print(f"peak RSS (VmHWM)      : {peak:8.1f} MiB (target <= 50 MiB)"
          f" [{'met' if peak <= 50 else 'NOT met'}]")  # fmt: skip
    print(f"RSS at the end        : {figures['rss_mib']:8.1f} MiB")
    print(f"start-up CPU          : {figures['startup_cpu_s']:8.2f} s (imports, first reads)")
    print(f"samples stored        : {stored:8d}")
    if figures["exit"] != 0:
        print(f"agent exited with {figures['exit']}; see its log")
        sys.exit(1)


if __name__ == "__main__":
    main()
