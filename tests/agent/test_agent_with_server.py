"""The agent against the real app under gunicorn: outages, kills, resends, a poison batch.

Afterwards every sample is stored exactly once: per device the stored intervals follow each
other with no gap and no overlap (a restart's gap-covering interval included), and their energy
is what the simulated GPUs drew over that time.
"""

import json
import signal
import time

import pytest

from collectors.agent.sources.sim import SimSource
from collectors.models import IngestBatch, RawSample
from collectors.services import collector_create
from tests.agent.agent_process import AgentProcess, assert_intervals_tile
from tests.processes import WebServer

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(condition, timeout=40.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def web(tmp_path):
    server = WebServer(tmp_path, workers=2).start()
    yield server
    server.stop()


@pytest.fixture
def token():
    # With the back-fill permission: the replay test sends a trace of fixed (past) timestamps.
    return collector_create(name="agent-under-test", allow_backfill=True)[1]


def agent(tmp_path, web, token, *args, name="agent"):
    return AgentProcess(
        tmp_path,
        "--server",
        web.url,
        "--token",
        token,
        "--spool-dir",
        str(tmp_path / "spool"),
        "--hostname",
        "gpu-node-01",
        *args,
        name=name,
    )


def stored_samples() -> list[dict]:
    return [
        {"device": device, "ts": ts.timestamp(), "duration_s": duration, "energy_j": energy}
        for device, ts, duration, energy in RawSample.objects.values_list(
            "device__uuid", "ts", "duration_s", "energy_j"
        )
    ]


def test_sim_agent_through_outage_and_sigkill_stores_every_sample_once(tmp_path, web, token):
    args = ("--source", "sim:4", "--interval", "0.5", "--sample-seconds", "1", "--push-every", "1")
    first = agent(tmp_path, web, token, *args, name="first").start()
    try:
        wait_until(lambda: RawSample.objects.count() >= 8, what="first samples")
        web.stop()  # the server goes away mid-run: batches wait in the spool
        first.wait_for_log("push failed (network", timeout=60)
        web.start()
        count = RawSample.objects.count()
        wait_until(lambda: RawSample.objects.count() > count + 8, what="samples after restart")
        first.signal(signal.SIGKILL)
    finally:
        first.kill_if_running()
    time.sleep(1.0)
    second = agent(tmp_path, web, token, *args, name="second").start()
    try:
        count = RawSample.objects.count()
        wait_until(lambda: RawSample.objects.count() > count + 8, what="samples after SIGKILL")
    finally:
        second.signal(signal.SIGTERM)
    drain = agent(tmp_path, web, token, "--source", "sim:4", "--once", "--interval", "0.5")
    assert drain.run() == 0, drain.log()

    assert "push failed (network" in first.log()
    samples = stored_samples()
    assert_intervals_tile(samples, expected_devices=4)
    assert max(s["duration_s"] for s in samples) > 1.0  # the interval covering the kill
    sim = SimSource(count=4, hostname="gpu-node-01", interval_s=0.5)
    sim.open()
    for device, role in sim._devices:
        mine = sorted((s for s in samples if s["device"] == device.uuid), key=lambda s: s["ts"])
        start, end = mine[0]["ts"] - mine[0]["duration_s"], mine[-1]["ts"]
        expected = sum(s.energy_j for s in sim_interval(device, role, start, end))
        assert sum(s["energy_j"] for s in mine) == pytest.approx(expected, rel=1e-6)


def sim_interval(device, role, start, end):
    from collectors.agent.sources.sim import interval_samples

    return interval_samples(device, role, start, end)[0]


def write_trace(path, count: int, poison_line: int | None = None) -> None:
    with open(path, "w") as handle:
        for i in range(count):
            record = {
                "device": f"GPU-trace-{i % 4}",
                "name": "NVIDIA A100-SXM4-40GB",
                "index": i % 4,
                "ts": 1_793_000_000 + (i // 4),
                "duration_s": 1.0,
                "power_w": 9000.0 if i == poison_line else 250.0,
            }
            handle.write(json.dumps(record) + "\n")


def test_replay_with_a_poison_batch_sets_it_aside_and_sends_the_rest(tmp_path, web, token):
    trace = tmp_path / "trace.jsonl"
    write_trace(trace, 2500, poison_line=1499)  # in the second batch of 1000
    replay = agent(tmp_path, web, token, "--source", f"replay:{trace}")
    assert replay.run() == 1  # done, but says a batch was refused
    assert RawSample.objects.count() == 1500
    (rejected,) = (tmp_path / "spool" / "rejected").glob("*.batch")
    answer = json.loads(rejected.with_suffix(".answer.json").read_text())
    assert answer["status"] == 400
    assert "samples[499].power_w" in answer["answer"]
    assert "replay finished with 0 invalid lines and 1 refused batches" in replay.log()


def test_replay_killed_and_restarted_stores_each_line_once(tmp_path, web, token):
    trace = tmp_path / "trace.jsonl"
    write_trace(trace, 16_000)
    first = agent(tmp_path, web, token, "--source", f"replay:{trace}", name="first").start()
    try:
        wait_until(lambda: IngestBatch.objects.count() >= 2, what="two batches")
        first.signal(signal.SIGKILL)
    finally:
        first.kill_if_running()
    second = agent(tmp_path, web, token, "--source", f"replay:{trace}", name="second")
    assert second.run(timeout=120) == 0, second.log()
    assert RawSample.objects.count() == 16_000
    assert IngestBatch.objects.count() == 16
    assert not list((tmp_path / "spool" / "batches").glob("*.batch"))
