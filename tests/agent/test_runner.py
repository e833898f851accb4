"""The agent's loop in-process: failure paths that a real process cannot easily provoke."""

import threading

import pytest

from collectors.agent.config import parse_config
from collectors.agent.metrics import AgentMetrics
from collectors.agent.push import Backoff, PushOutcome
from collectors.agent.runner import Agent
from collectors.agent.sources import Source
from collectors.agent.sources.sim import SimSource
from collectors.agent.spool import Spool


class ScriptedPoster:
    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.bodies = []

    def post(self, body):
        self.bodies.append(body)
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
