"""Serving work from vLLM's counters: the pure rules (deltas, resets, finished_reason summed,
baseline) with hand-checked numbers, and in-process with the real spool: work goes with the
agent's own host's batch and the state saved with it, so a restart never counts twice."""

import gzip
import json

import pytest

from collectors.agent.model import WorkSample, build_payload
from collectors.agent.sources.telemetry import (
    Series,
    TelemetrySource,
    advance_counter,
    parse_query_result,
    work_items,
)
from collectors.agent.spool import decode_batch, read_meta, unpack_state
from tests.agent.test_runner import Clock, ScriptedPoster, make_agent

REQUESTS = "vllm:request_success_total"
OUTPUT = "vllm:generation_tokens_total"
POD = {"namespace": "serving", "pod": "vllm-0", "model_name": "assistant"}


def test_counter_increase_since_the_position():
    interval, position, resets = advance_counter(
        (100.0, 10.0), [(90.0, 5.0), (100.0, 10.0), (115.0, 40.0), (130.0, 55.0)]
    )
    assert interval == (100.0, 130.0, 45.0)  # points at or before the position are skipped
    assert (position, resets) == ((130.0, 55.0), 0)


def test_first_sight_of_a_series_is_its_baseline():
    interval, position, _ = advance_counter(None, [(100.0, 7.0)])
    assert interval is None and position == (100.0, 7.0)
    interval, position, _ = advance_counter(None, [(100.0, 7.0), (115.0, 9.0)])
    assert interval == (100.0, 115.0, 2.0)


def test_engine_restart_counts_from_the_new_value():
    # 50 -> 60 (+10), restart: 60 -> 4 counts 4, then 4 -> 10 (+6).
    interval, _, resets = advance_counter((0.0, 50.0), [(15.0, 60.0), (30.0, 4.0), (45.0, 10.0)])
    assert interval == (0.0, 45.0, 20.0)
    assert resets == 1


def test_requests_are_summed_over_finished_reason_per_pod_and_model():
    positions = {}
    stop = Series(REQUESTS, {**POD, "finished_reason": "stop"}, [(100.0, 10.0), (115.0, 16.0)])
    length = Series(REQUESTS, {**POD, "finished_reason": "length"}, [(100.0, 2.0), (115.0, 4.0)])
    other_pod = Series(
        REQUESTS,
        {**POD, "pod": "vllm-1", "finished_reason": "stop"},
        [(100.0, 0.0), (115.0, 3.0)],
    )
    tokens = Series(OUTPUT, POD, [(100.0, 1000.0), (115.0, 1800.0)])
    ignored = Series("vllm:num_requests_running", POD, [(100.0, 1.0), (115.0, 3.0)])
    items, resets = work_items([stop, length, other_pod, tokens, ignored], positions)
    assert resets == 0
    found = {(item.kind, dict(item.job)["pod"]): item for item in items}
    assert set(found) == {
        ("requests", "vllm-0"),
        ("requests", "vllm-1"),
        ("output_tokens", "vllm-0"),
    }
    assert found[("requests", "vllm-0")].units == 8.0  # 6 stop + 2 length
    assert found[("requests", "vllm-1")].units == 3.0
    assert found[("output_tokens", "vllm-0")].units == 800.0
    assert found[("requests", "vllm-0")].model_name == "assistant"
    assert (found[("requests", "vllm-0")].end_ts, found[("requests", "vllm-0")].duration_s) == (
        115.0,
        15.0,
    )
    assert dict(found[("requests", "vllm-0")].job) == {
        "id": "serving/vllm-0",
        "namespace": "serving",
        "pod": "vllm-0",
    }
    # The next read continues from the positions: nothing counted twice.
    again, _ = work_items(
        [Series(OUTPUT, POD, [(100.0, 1000.0), (115.0, 1800.0), (130.0, 1900.0)])], positions
    )
    assert [(w.units, w.duration_s) for w in again] == [(100.0, 15.0)]


def test_a_query_on_several_metrics_keeps_each_series_name():
    answer = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {"metric": {"__name__": OUTPUT, "pod": "p"}, "values": [[1.0, "5"], [2.0, "7"]]},
                {"metric": {"__name__": REQUESTS, "pod": "p"}, "values": [[1.0, "1"]]},
            ],
        },
    }
    assert [s.metric for s in parse_query_result(answer, None)] == [OUTPUT, REQUESTS]


def test_work_sample_payload():
    sample = WorkSample(
        ts=1_795_000_000.5,
        duration_s=15.0,
        kind="requests",
        units=8.0,
        model_name="m",
        job=[{"id": "ns/p", "pod": "p", "share": 1.0}],
    )
    payload = build_payload(
        batch_id="b", hostname="h", agent_version="v", samples=[], work=[sample]
    )
    assert payload["samples"] == [] and payload["devices"] == []
    assert payload["work"] == [
        {
            "ts": "2026-11-18T11:06:40.500000Z",
            "duration_s": 15.0,
            "kind": "requests",
            "units": 8.0,
            "model_name": "m",
            "job": [{"id": "ns/p", "pod": "p", "share": 1.0}],
        }
    ]
    assert "work" not in build_payload(batch_id="b", hostname="h", agent_version="v", samples=[])


class EngineSource(TelemetrySource):
    """A Prometheus holding only one vLLM engine's counters: 100 output tokens a second."""

    key = "engine"

    def __init__(self, clock):
        super().__init__(poll_every_s=0.0, clock=clock)
        self.work_host = "collector"

    def open(self, state=None):
        self.restore(state or {})

    def fetch(self):
        now = self.clock()
        self.work_from([Series(OUTPUT, POD, [(now, 100.0 * (now - 1_795_000_000.0))])])
        return {}


def batches(tmp_path):
    return [
        (read_meta(path), json.loads(gzip.decompress(decode_batch(path.read_bytes())[1])))
        for path in sorted((tmp_path / "batches").glob("*.batch"))
    ]


def test_work_goes_in_a_batch_of_the_agents_host_with_its_positions(tmp_path):
    clock = Clock(1_795_000_000.0)
    source = EngineSource(clock)
    agent, spool, _ = make_agent(tmp_path, [source], ScriptedPoster([]), "--hostname", "collector")
    source.open()
    agent._spool(agent._read_all())  # the baseline: nothing to send
    assert batches(tmp_path) == []
    clock.now += 10.0
    agent._spool(agent._read_all())
    ((meta, payload),) = batches(tmp_path)
    assert payload["host"]["hostname"] == "collector"
    assert [(w["kind"], w["units"], w["duration_s"]) for w in payload["work"]] == [
        ("output_tokens", 1000.0, 10.0)
    ]
    state = unpack_state(meta)["engine"]["work_positions"]
    assert list(state.values()) == [[1_795_000_010.0, 1000.0]]
    spool.close()

    # Killed here; the restarted agent resumes from the spooled position.
    clock.now += 5.0
    restarted = EngineSource(clock)
    agent2, spool2, _ = make_agent(
        tmp_path, [restarted], ScriptedPoster([]), "--hostname", "collector"
    )
    restarted.open(spool2.load_state()["engine"])
    agent2._spool(agent2._read_all())
    work = [w for _, payload in batches(tmp_path) for w in payload["work"]]
    assert [(w["units"], w["duration_s"]) for w in work] == [(1000.0, 10.0), (500.0, 5.0)]
    spool2.close()


def test_work_not_spooled_is_kept_for_the_next_batch(tmp_path):
    clock = Clock(1_795_000_000.0)
    source = EngineSource(clock)
    agent, spool, _ = make_agent(tmp_path, [source], ScriptedPoster([]), "--hostname", "collector")
    source.open()
    agent._spool(agent._read_all())
    clock.now += 10.0
    real_put = spool.put

    def failing(payload, state):
        raise OSError(28, "No space left on device")

    spool.put = failing
    agent._spool(agent._read_all())
    spool.put = real_put
    clock.now += 10.0
    agent._spool(agent._read_all())
    work = [w for _, payload in batches(tmp_path) for w in payload["work"]]
    assert sum(w["units"] for w in work) == pytest.approx(2000.0)
    spool.close()
