"""The agent's loop in-process: failure paths that a real process cannot easily provoke."""

import gzip
import json
import threading
import time

import pytest

from collectors.agent.config import parse_config
from collectors.agent.metrics import AgentMetrics
from collectors.agent.push import Backoff, Poster, PushOutcome
from collectors.agent.runner import Agent, Sender
from collectors.agent.sources import Source
from collectors.agent.sources.sim import SimSource
from collectors.agent.sources.sim import energy_j as sim_energy_j
from collectors.agent.spool import Spool
from tests.agent.fake_server import FakeServer


class ScriptedPoster:
    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.bodies = []
        self.timeouts = []

    def post(self, body, *, timeout_s=None):
        self.bodies.append(body)
        self.timeouts.append(timeout_s)
        outcome = self.outcomes.pop(0) if self.outcomes else PushOutcome("delete", "ok", 202)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class BrokenSource(Source):
    key = "broken"

    def open(self, state=None):
        pass

    def read(self):
        raise RuntimeError("a bug in a source")


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def make_agent(tmp_path, sources, poster, *extra):
    config = parse_config(
        ["--server", "http://x", "--token", "t", "--spool-dir", str(tmp_path), *extra], {}
    )
    spool = Spool(tmp_path, max_bytes=config.spool_max_bytes)
    spool.open()
    metrics = AgentMetrics()
    agent = Agent(
        config=config,
        sources=sources,
        spool=spool,
        poster=poster,
        metrics=metrics,
        backoff=Backoff(base_s=0.01, cap_s=0.02),
    )
    return agent, spool, metrics


def value(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_samples_the_disk_refused_go_with_the_next_batch(tmp_path, monkeypatch):
    clock = Clock(1_795_000_000.0)
    sim = SimSource(count=2, hostname="h", interval_s=1.0, clock=clock)
    agent, spool, _ = make_agent(tmp_path, [sim], ScriptedPoster([]))
    sim.open()
    real_put = spool.put
    calls = []

    def failing_once(payload, state):
        calls.append(len(payload["samples"]))
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real_put(payload, state)

    monkeypatch.setattr(spool, "put", failing_once)
    agent._spool(agent._read_all())
    assert spool.count() == 0
    clock.now += 1.0
    agent._spool(agent._read_all())
    assert calls == [2, 4]
    assert spool.count() == 1


def test_a_failing_source_is_counted_and_the_others_go_on(tmp_path, caplog):
    clock = Clock(1_795_000_000.0)
    sim = SimSource(count=1, hostname="h", interval_s=1.0, clock=clock)
    agent, _, metrics = make_agent(tmp_path, [BrokenSource(), sim], ScriptedPoster([]))
    sim.open()
    assert len(agent._read_all()) == 1
    clock.now += 1.0
    assert len(agent._read_all()) == 1
    assert value(metrics, "greenai_agent_source_errors_total", source="broken") == 2
    assert value(metrics, "greenai_agent_source_last_success_timestamp_seconds", source="sim")
    assert caplog.text.count("source broken failed to read: a bug in a source") == 1


def test_sender_survives_an_unexpected_error_and_sends_later(tmp_path, caplog):
    poster = ScriptedPoster([ValueError("surprise")])
    agent, spool, metrics = make_agent(tmp_path, [], poster)
    spool.put({"batch_id": "b1", "samples": [{}] * 3}, {})
    done = threading.Event()
    real_delete = spool.delete

    def delete(path):
        real_delete(path)
        done.set()

    spool.delete = delete
    agent.sender.start()
    try:
        assert done.wait(5)
    finally:
        agent.sender.stop()
    assert len(poster.bodies) == 2
    assert "unexpected error while sending" in caplog.text
    assert value(metrics, "greenai_agent_samples_sent_total") == 3
    assert value(metrics, "greenai_agent_push_failures_total", cause="agent_error") == 1


def test_a_rejected_batch_counts_its_samples_as_dropped(tmp_path):
    poster = ScriptedPoster([PushOutcome("reject", "rejected", 400, detail='{"error": "x"}')])
    agent, spool, metrics = make_agent(tmp_path, [], poster)
    spool.put({"batch_id": "b1", "samples": [{}] * 5}, {})
    spool.put({"batch_id": "b2", "samples": [{}] * 2}, {})
    assert agent.sender.drain_once() is True
    assert agent.sender.rejected == 1
    assert value(metrics, "greenai_agent_samples_dropped_total", reason="rejected") == 5
    assert value(metrics, "greenai_agent_samples_sent_total") == 2


@pytest.mark.parametrize("cause", ["network", "server_error"])
def test_once_stops_at_the_first_retryable_failure_keeping_the_order(tmp_path, cause):
    poster = ScriptedPoster([PushOutcome("retry", cause, 503)])
    agent, spool, _ = make_agent(tmp_path, [], poster)
    first = spool.put({"batch_id": "b1", "samples": [{}]}, {})
    spool.put({"batch_id": "b2", "samples": [{}]}, {})
    assert agent.sender.drain_once() is False
    assert len(poster.bodies) == 1
    assert spool.oldest() == first.path


def sent_samples(poster) -> list[dict]:
    return [s for body in poster.bodies for s in json.loads(gzip.decompress(body))["samples"]]


def test_partial_samples_spooled_with_a_batch_are_finished_by_the_next_run(tmp_path):
    """A run killed mid-sample leaves its partial samples in the spooled state; a --once run
    continues them, and the energy sent is exactly what the simulated GPUs drew."""
    t0 = 1_795_000_000.0
    clock = Clock(t0 + 2)
    sim = SimSource(count=2, hostname="h", interval_s=1.0, clock=clock)
    poster = ScriptedPoster([])
    agent, spool, _ = make_agent(tmp_path, [sim], poster, "--sample-seconds", "10")
    sim.open()
    batch = []
    for second in range(3, 15):  # the live loop's steps, by hand
        clock.now = t0 + second
        batch += agent.aggregator.add(agent._read_all()) + agent.aggregator.flush_due(clock.now)
    agent._spool(batch)  # a push at t0 + 14: (t0 + 2, t0 + 10] complete, (10, 14] partial
    assert agent.sender.drain_once()
    spool.close()  # SIGKILL here: nothing else reaches the disk

    clock.now = t0 + 17.5
    sim2 = SimSource(count=2, hostname="h", interval_s=1.0, clock=clock)
    again, spool2, _ = make_agent(
        tmp_path, [sim2], poster, "--sample-seconds", "10", "--once", "--interval", "0.05"
    )
    assert again.run() == 0
    spool2.close()

    samples = sent_samples(poster)
    assert len(samples) == 4  # per device: (2, 10] and (10, 17]
    for device, role in sim._devices:
        mine = sorted((s for s in samples if s["device"] == device.uuid), key=lambda s: s["ts"])
        assert [s["duration_s"] for s in mine] == [8.0, 7.0]
        assert sum(s["energy_j"] for s in mine) == pytest.approx(
            sim_energy_j(role, t0 + 2, t0 + 17), abs=2e-6
        )


def test_a_batch_failing_with_500_is_set_aside_and_sent_after_the_newer_one(tmp_path):
    with FakeServer() as server:
        server.ingest.script = [(500, {}, "boom")] * 3
        config = parse_config(
            ["--server", server.url, "--token", "t", "--spool-dir", str(tmp_path)], {}
        )
        spool = Spool(tmp_path, max_bytes=config.spool_max_bytes)
        spool.open()
        metrics = AgentMetrics()
        sender = Sender(
            spool,
            Poster(server.url, "t"),
            metrics,
            Backoff(base_s=0.01, cap_s=0.02),
            aside_base_s=0.5,
            aside_cap_s=1.0,
        )
        old = {"batch_id": "00000000-0000-4000-8000-000000000001", "samples": [{}] * 2}
        new = {"batch_id": "00000000-0000-4000-8000-000000000002", "samples": [{}] * 3}
        first = spool.put({**old, "host": {"hostname": "h"}, "devices": []}, {}).path
        spool.put({**new, "host": {"hostname": "h"}, "devices": []}, {})
        sender.start()
        try:
            deadline = time.monotonic() + 60
            while len(server.ingest.stored_batches) < 2 and time.monotonic() < deadline:
                if len(server.ingest.stored_batches) == 1:
                    # The newer batch went while the old one waits, set aside.
                    assert spool.is_aside(first)
                    assert value(metrics, "greenai_agent_spool_set_aside_batches") == 1
                time.sleep(0.01)
        finally:
            sender.stop()
        order = [request.payload["batch_id"] for request in server.ingest.received]
    assert order == [old["batch_id"]] * 3 + [new["batch_id"], old["batch_id"]]
    assert set(server.ingest.stored_batches) == {old["batch_id"], new["batch_id"]}
    assert spool.count() == 0 and value(metrics, "greenai_agent_spool_set_aside_batches") == 0
    assert value(metrics, "greenai_agent_push_failures_total", cause="server_error") == 3
    assert value(metrics, "greenai_agent_samples_sent_total") == 5
    retries = json.loads((tmp_path / "retries.json").read_text())
    assert retries == {}
    spool.close()


def test_a_set_aside_batch_failing_again_waits_longer_and_never_blocks_newer_ones(tmp_path):
    failing = PushOutcome("retry", "server_error", 503)
    poster = ScriptedPoster([failing] * 4)
    agent, spool, _ = make_agent(tmp_path, [], poster)
    clock = Clock(1000.0)
    agent.sender.clock = clock
    agent.sender.aside_base_s, agent.sender.aside_cap_s = 30.0, 1800.0
    first = spool.put({"batch_id": "b1", "samples": [{}]}, {}).path
    for _ in range(2):
        assert agent.sender.send(first).action == "retry"
    assert agent.sender.send(first).action == "aside"
    retry_at = spool.next_retry_at()
    assert 1000 + 15 <= retry_at <= 1000 + 30  # 30 s with equal jitter
    second = spool.put({"batch_id": "b2", "samples": [{}]}, {}).path
    assert spool.next_to_send(clock()) == second
    clock.now = retry_at
    spool.delete(second)
    assert agent.sender.send(first).action == "aside"  # fourth failure: 60 s, jittered
    assert retry_at + 30 <= spool.next_retry_at() <= retry_at + 60
    clock.now = spool.next_retry_at()
    assert agent.sender.send(first).action == "delete"  # the server works again
    assert spool.count() == 0


def test_once_sets_a_repeatedly_failing_batch_aside_across_runs(tmp_path):
    """Each --once run tries the oldest batch once; the failures are counted in the spool, so
    the third run sets it aside and sends the newer batches."""
    failing = PushOutcome("retry", "server_error", 500)
    poster = ScriptedPoster([failing, failing, failing])
    agent, spool, _ = make_agent(tmp_path, [], poster)
    old = spool.put({"batch_id": "old", "samples": [{}]}, {}).path
    spool.put({"batch_id": "newer", "samples": [{}]}, {})
    for run in range(3):
        spool.close()
        agent, spool, _ = make_agent(tmp_path, [], poster)
        drained = agent.sender.drain_once()
        assert drained is False
        assert spool.failures(old) == run + 1
    assert spool.is_aside(old) and spool.count() == 1
    assert [json.loads(gzip.decompress(b))["batch_id"] for b in poster.bodies] == [
        "old",
        "old",
        "old",
        "newer",
    ]
    spool.close()


@pytest.mark.parametrize("cause", ["network", "redirect", "bad_answer", "auth", "rate_limited"])
def test_failures_that_are_not_the_batchs_fault_never_set_it_aside(tmp_path, cause):
    poster = ScriptedPoster([PushOutcome("retry", cause, None)] * 5)
    agent, spool, _ = make_agent(tmp_path, [], poster)
    path = spool.put({"batch_id": "b1", "samples": [{}]}, {}).path
    for _ in range(5):
        assert agent.sender.send(path).action == "retry"
    assert not spool.is_aside(path) and spool.failures(path) == 0


def test_metrics_count_the_refused_batches_kept_and_deleted(tmp_path):
    poster = ScriptedPoster([PushOutcome("reject", "rejected", 400, detail="x")] * 3)
    agent, spool, metrics = make_agent(tmp_path, [], poster)
    spool.rejected_max_batches = 2
    for name in ("b1", "b2", "b3"):
        spool.put({"batch_id": name, "samples": [{}]}, {})
    assert agent.sender.drain_once() is True
    assert value(metrics, "greenai_agent_rejected_batches") == 2
    assert value(metrics, "greenai_agent_rejected_deleted_total") == 1


def test_flush_sends_the_spool_within_the_deadline_and_stops_at_the_first_failure(tmp_path):
    network = PushOutcome("retry", "network", detail="down")
    poster = ScriptedPoster([PushOutcome("delete", "ok", 202), network])
    agent, spool, _ = make_agent(tmp_path, [], poster)
    for name in ("b1", "b2", "b3"):
        spool.put({"batch_id": name, "samples": [{}]}, {})
    agent.sender.flush(time.monotonic() + 5)
    # b1 went, b2 failed: b3 was not tried (the server is down), both stay for the next start.
    assert len(poster.bodies) == 2 and spool.count() == 2
    # Each POST may take no longer than what is left of the deadline.
    assert all(0 < timeout <= 5 for timeout in poster.timeouts)


def test_flush_with_no_time_left_sends_nothing(tmp_path):
    poster = ScriptedPoster([])
    agent, spool, _ = make_agent(tmp_path, [], poster)
    spool.put({"batch_id": "b1", "samples": [{}]}, {})
    agent.sender.flush(time.monotonic())
    assert poster.bodies == [] and spool.count() == 1
