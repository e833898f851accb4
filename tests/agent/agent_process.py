"""Run `python -m collectors.agent` as a real process for tests, and read what it sent."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class AgentProcess:
    def __init__(self, tmp_path: Path, *args: str, name: str = "agent", **env: str):
        self.args = [sys.executable, "-m", "collectors.agent", *args]
        self.env = {
            key: value for key, value in os.environ.items() if not key.startswith("GREENAI_")
        }
        self.env["PYTHONUNBUFFERED"] = "1"
        self.env.update(env)
        self.log_path = tmp_path / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "AgentProcess":
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        return self

    def run(self, timeout: float = 60) -> int:
        self.start()
        return self.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"agent still running after {timeout} s:\n{self.log()}") from None

    def signal(self, sig=signal.SIGTERM, timeout: float = 20) -> int:
        self.process.send_signal(sig)
        return self.wait(timeout)

    def kill_if_running(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"{text!r} not in the agent's log:\n{self.log()}")
            time.sleep(0.05)


def epoch(ts) -> float:
    if isinstance(ts, int | float):
        return float(ts)
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def assert_intervals_tile(samples: list[dict], expected_devices: int) -> None:
    """Per device, the intervals [ts - duration, ts] follow each other with no gap, no overlap.

    That is what "every joule exactly once" means for interval samples.
    """
    by_device: dict[str, list[tuple[float, float]]] = {}
    for sample in samples:
        end = epoch(sample["ts"])
        by_device.setdefault(sample["device"], []).append((end - sample["duration_s"], end))
    assert len(by_device) == expected_devices
    for device, intervals in by_device.items():
        intervals.sort()
        for (_, previous_end), (start, _) in zip(intervals, intervals[1:], strict=False):
            assert abs(start - previous_end) < 1e-3, (
                f"{device}: interval starting {start} follows one ending {previous_end}"
            )


def prometheus_agent(tmp_path, server_url: str, token: str, prometheus_url: str, *, name: str):
    """An agent reading a Prometheus server (the prometheus: source) for the host collector-01,
    polling fast and pushing every half second, as the end-to-end tests run it."""
    return AgentProcess(
        tmp_path,
        "--server",
        server_url,
        "--token",
        token,
        "--spool-dir",
        str(tmp_path / "spool"),
        "--hostname",
        "collector-01",
        "--source",
        f"prometheus:{prometheus_url}",
        "--interval",
        "0.2",
        "--push-every",
        "0.5",
        name=name,
    )
