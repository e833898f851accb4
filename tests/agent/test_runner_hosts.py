"""One batch per host, and the state saved with each, in-process with the real spool."""

import gzip
import json

from collectors.agent.sources.sim import SimSource
from collectors.agent.sources.telemetry import (
    ENERGY,
    KIND_ENERGY,
    Series,
    TelemetrySource,
    group_by_gpu,
)
from collectors.agent.spool import decode_batch, read_meta, unpack_state
from tests.agent.test_runner import Clock, ScriptedPoster, make_agent


class ListedSource(TelemetrySource):
    """Telemetry of two hosts, one scripted poll per read."""

    key = "listed"

    def __init__(self, clock):
        super().__init__(poll_every_s=0.0, clock=clock)
        self.value = 1_000_000

    def open(self, state=None):
        self.restore(state or {})

    def fetch(self):
        self.value += 300_000
        ts = self.clock()
        return group_by_gpu(
            [
                Series(ENERGY, {"UUID": "GPU-a", "Hostname": "node-a"}, [(ts, self.value)]),
                Series(ENERGY, {"UUID": "GPU-b", "Hostname": "node-b"}, [(ts, self.value)]),
            ],
            "unused",
        )


def batches(tmp_path):
    files = sorted((tmp_path / "batches").glob("*.batch"))
    return [
        (read_meta(path), json.loads(gzip.decompress(decode_batch(path.read_bytes())[1])))
        for path in files
    ]


def test_each_host_gets_its_own_batch_this_machine_first(tmp_path):
    clock = Clock(1_795_000_000.0)
    listed = ListedSource(clock)
    sim = SimSource(count=1, hostname="collector", interval_s=1.0, clock=clock)
    agent, spool, _ = make_agent(
        tmp_path, [listed, sim], ScriptedPoster([]), "--hostname", "collector"
    )
    listed.open()
    sim.open()
    agent._read_all()  # the baseline
    clock.now += 1.0
    agent._spool(agent._read_all())
    clock.now += 1.0
    agent._spool(agent._read_all())
    written = batches(tmp_path)[3:]
    assert [payload["host"]["hostname"] for _, payload in written] == [
        "collector",
        "node-a",
        "node-b",
    ]
    assert [{s["device"] for s in payload["samples"]} for _, payload in written][1:] == [
        {"GPU-a"},
        {"GPU-b"},
    ]
    # Every batch's state is complete up to its host; the last one is the whole state.
    states = [unpack_state(meta)["listed"]["positions"] for meta, _ in written]
    assert states[0]["GPU-a"][0] == states[0]["GPU-b"][0] == 1_795_000_001.0
    assert states[1]["GPU-a"][0] == 1_795_000_002.0 and states[1]["GPU-b"][0] == 1_795_000_001.0
    assert states[2]["GPU-a"][0] == states[2]["GPU-b"][0] == 1_795_000_002.0
    spool.close()


def test_crash_between_two_hosts_batches_rereads_only_the_host_not_spooled(tmp_path):
    clock = Clock(1_795_000_000.0)
    listed = ListedSource(clock)
    agent, spool, _ = make_agent(tmp_path, [listed], ScriptedPoster([]))
    listed.open()
    agent._read_all()  # the baseline
    clock.now += 1.0
    agent._spool(agent._read_all())
    clock.now += 1.0
    samples = agent._read_all()
    real_put = spool.put

    def crash_on_second(payload, state):
        if payload["host"]["hostname"] == "node-b":
            raise OSError(5, "Input/output error")  # stands for the process dying here
        return real_put(payload, state)

    spool.put = crash_on_second
    agent._spool(samples)
    spool.close()

    # Restart: the state on disk is the one saved with node-a's batch.
    restarted = ListedSource(Clock(1_795_000_003.0))
    _agent, spool2, _ = make_agent(tmp_path, [restarted], ScriptedPoster([]))
    state = spool2.load_state()["listed"]
    assert state["positions"] == {
        "GPU-a": [1_795_000_002.0, 1_900_000.0, KIND_ENERGY],
        "GPU-b": [1_795_000_001.0, 1_600_000.0, KIND_ENERGY],
    }
    restarted.open(state)
    restarted.value = 1_900_000
    again = {s.device.uuid: s for s in restarted.read()}
    # node-a continues after its spooled read; node-b re-reads the interval never spooled.
    assert (again["GPU-a"].duration_s, again["GPU-a"].energy_j) == (1.0, 300.0)
    assert (again["GPU-b"].duration_s, again["GPU-b"].energy_j) == (2.0, 600.0)
    spool2.close()
