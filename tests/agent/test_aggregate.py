"""One sample per device per --sample-seconds, from reads every --interval: hand-checked sums."""

import json

import pytest

from collectors.agent.aggregate import SampleAggregator, window_of
from collectors.agent.model import DeviceInfo, Sample
from collectors.agent.sources.sim import SimSource
from collectors.agent.sources.sim import energy_j as sim_energy_j

GPU = DeviceInfo(uuid="GPU-a", name="NVIDIA H100 80GB HBM3", power_limit_w=700.0)
OTHER = DeviceInfo(uuid="GPU-b", index=1)
T0 = 1_795_000_000.0  # a multiple of 10


def read(end, energy, *, device=GPU, duration=1.0, util=None, mem=None, tags=None, power=None):
    return Sample(
        device=device,
        ts=T0 + end,
        duration_s=duration,
        energy_j=energy,
        power_w=energy / duration if power is None and energy is not None else power,
        util_pct=util,
        mem_used_mib=mem,
        tags=tags,
    )


def test_ten_reads_make_one_sample_of_their_sums_and_time_weighted_means():
    aggregator = SampleAggregator(10)
    reads = [
        read(
            second,
            100.0 + second,  # 101 ... 110 J
            util=100.0 if second % 2 else 0.0,
            mem=1000.0 if second <= 5 else 3000.0,
            tags=[{"project": "a", "phase": "training", "share": 1.0}]
            if second <= 5
            else [
                {"project": "a", "phase": "training", "share": 0.5},
                {"project": "b", "share": 0.25},
            ],
        )
        for second in range(1, 11)
    ]
    assert aggregator.add(reads) == []  # the window (T0, T0 + 10] is not over yet
    (sample,) = aggregator.flush_due(T0 + 10)
    assert sample.ts == T0 + 10
    assert sample.duration_s == 10.0
    assert sample.energy_j == 1055.0  # 101 + 102 + ... + 110
    assert sample.power_w == pytest.approx(105.5)
    assert sample.util_pct == pytest.approx(50.0)
    assert sample.mem_used_mib == pytest.approx(2000.0)
    # a: 5 s at 1.0 and 5 s at 0.5 -> 0.75; b: 5 s at 0.25 over 10 s -> 0.125
    assert sample.tags == [
        {"project": "a", "phase": "training", "share": 0.75},
        {"project": "b", "share": 0.125},
    ]
    assert sample.device == GPU


def test_a_project_seen_in_half_the_reads_gets_half_its_share():
    aggregator = SampleAggregator(4)
    tagged = [{"project": "vision", "share": 0.6}, {"project": "eval", "share": 0.4}]
    aggregator.add([read(s, 100.0, tags=tagged if s <= 2 else None) for s in range(1, 5)])
    (sample,) = aggregator.flush_all()
    assert sample.tags == [{"project": "vision", "share": 0.3}, {"project": "eval", "share": 0.2}]


def test_constant_shares_survive_float_noise_and_never_sum_above_one():
    aggregator = SampleAggregator(10)
    tags = [
        {"project": "vision", "share": 0.6},
        {"project": "eval", "share": 0.4},
    ]
    aggregator.add([read(s, 1.0, duration=1.0, tags=tags) for s in range(1, 11)])
    (sample,) = aggregator.flush_all()
    assert [tag["share"] for tag in sample.tags] == [0.6, 0.4]  # not 0.599999
    thirds = SampleAggregator(3)
    third = [{"project": p, "share": 1 / 3} for p in ("x", "y", "z")]
    thirds.add([read(s, 1.0, tags=third) for s in range(1, 4)])
    (sample,) = thirds.flush_all()
    assert sum(tag["share"] for tag in sample.tags) <= 1.0
    assert [tag["share"] for tag in sample.tags] == [0.333333] * 3


def test_reads_are_cut_at_window_boundaries_and_each_device_apart():
    aggregator = SampleAggregator(10)
    done = aggregator.add([read(s, 10.0) for s in range(1, 13)])
    done += aggregator.add([read(s, 20.0, device=OTHER) for s in range(15, 19)])
    # The read ending at T0 + 11 belongs to the next window: the first one is complete.
    assert [(s.ts - T0, s.duration_s, s.energy_j) for s in done] == [(10.0, 10.0, 100.0)]
    assert aggregator.flush_due(T0 + 19.9) == []
    late = aggregator.flush_due(T0 + 20)
    assert sorted((s.device.uuid, s.ts - T0, s.duration_s, s.energy_j) for s in late) == [
        ("GPU-a", 12.0, 2.0, 20.0),
        ("GPU-b", 18.0, 4.0, 80.0),
    ]


def test_window_of_tolerates_float_noise_at_the_boundary():
    assert window_of(30.000000000000004, 10) == 2  # (20, 30]
    assert window_of(30.0, 10) == 2
    assert window_of(30.01, 10) == 3
    assert window_of(0.1 * 3, 0.1) == 2


def test_reads_that_are_not_contiguous_start_a_new_sample():
    aggregator = SampleAggregator(10)
    aggregator.add([read(1, 5.0), read(2, 5.0)])
    # A source restarted without its state: its next read starts at T0 + 5, not T0 + 2.
    done = aggregator.add([read(6, 5.0)])
    assert [(s.ts - T0, s.duration_s) for s in done] == [(2.0, 2.0)]
    (rest,) = aggregator.flush_all()
    assert (rest.ts - T0, rest.duration_s) == (6.0, 1.0)


def test_a_long_gap_covering_read_is_its_own_sample_within_the_hour_limit():
    aggregator = SampleAggregator(10)
    aggregator.add([read(1, 100.0)])
    # The agent was down for an hour: the restarted source covers it with one 3600 s read.
    done = aggregator.add([read(3601, 3600.0 * 200, duration=3600.0)])
    assert [(s.ts - T0, s.duration_s) for s in done] == [(1.0, 1.0)]
    # Same window, contiguous, but one more second would exceed the API's one-hour limit.
    done = aggregator.add([read(3602, 200.0)])
    assert [(s.ts - T0, s.duration_s, s.energy_j) for s in done] == [(3601.0, 3600.0, 3600.0 * 200)]
    (last,) = aggregator.flush_all()
    assert (last.ts - T0, last.duration_s) == (3602.0, 1.0)


def test_power_only_reads_count_their_power_times_duration_as_energy():
    aggregator = SampleAggregator(2)
    aggregator.add([read(1, None, power=100.0), read(2, 300.0)])
    (sample,) = aggregator.flush_all()
    assert (sample.energy_j, sample.power_w) == (400.0, 200.0)


def test_partial_samples_survive_a_json_round_trip_of_their_state():
    mig = DeviceInfo(uuid="MIG-1", parent_uuid="GPU-m", index=0)
    parent = DeviceInfo(uuid="GPU-m", name="NVIDIA A100-SXM4-40GB", mig_slices=(mig,))
    aggregator = SampleAggregator(10)
    tags = [{"project": "a", "share": 1.0}]
    aggregator.add([read(s, 50.0, device=parent, util=80.0, tags=tags) for s in (1, 2, 3)])
    restored = SampleAggregator(10)
    restored.restore(json.loads(json.dumps(aggregator.state())))
    restored.add([read(s, 50.0, device=parent, util=40.0) for s in (4, 5, 6)])
    (sample,) = restored.flush_all()
    assert sample.device == parent and sample.device.mig_slices == (mig,)
    assert (sample.duration_s, sample.energy_j, sample.util_pct) == (6.0, 300.0, 60.0)
    assert sample.tags == [{"project": "a", "share": 0.5}]


def test_an_unreadable_saved_state_starts_afresh():
    aggregator = SampleAggregator(10)
    aggregator.restore({"GPU-a": {"window": "x"}})
    assert aggregator.pending_devices == 0


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def test_energy_of_10_s_samples_is_the_sum_of_the_1_s_reads_across_pushes_and_a_restart():
    """The live loop's steps by hand: reads every second, a push every 7 s (not aligned with the
    10 s windows), a SIGKILL that loses what was not spooled, and a restart from the spool."""
    clock = Clock(T0 + 3)
    sim = SimSource(count=4, hostname="h", interval_s=1.0, clock=clock)
    sim.open()
    aggregator = SampleAggregator(10)
    reads, sent, spooled_state = [], [], None
    batch = []
    for second in range(4, 40):
        clock.now = T0 + second
        new = sim.read()
        reads.extend(new)
        batch += aggregator.add(new) + aggregator.flush_due(clock.now)
        if second % 7 == 0:  # a push: the batch and the state as of now are spooled together
            sent += batch
            batch = []
            spooled_state = json.loads(json.dumps({"sim": sim.state(), "agg": aggregator.state()}))
    # SIGKILL at T0 + 39: the batch gathered since T0 + 35 and the partial samples are lost
    # from memory, but the spooled state says where to resume.
    clock.now = T0 + 45
    sim = SimSource(count=4, hostname="h", interval_s=1.0, clock=clock)
    sim.open(spooled_state["sim"])
    aggregator = SampleAggregator(10)
    aggregator.restore(spooled_state["agg"])
    for second in range(45, 63):
        clock.now = T0 + second
        sent += aggregator.add(sim.read()) + aggregator.flush_due(clock.now)
    sent += aggregator.flush_all()  # SIGTERM

    for device, role in sim._devices:
        mine = sorted((s for s in sent if s.device.uuid == device.uuid), key=lambda s: s.ts)
        # Tiled from the first read's start to the last read's end, no gap, no overlap.
        assert mine[0].ts - mine[0].duration_s == T0 + 3
        for before, after in zip(mine, mine[1:], strict=False):
            assert after.ts - after.duration_s == pytest.approx(before.ts, abs=1e-9)
        assert mine[-1].ts == T0 + 62
        before_kill = [r.energy_j for r in reads if r.device == device and r.ts <= T0 + 35]
        sent_before = sum(s.energy_j for s in mine if s.ts <= T0 + 35)
        assert sent_before == pytest.approx(sum(before_kill), rel=1e-12)
        assert sum(s.energy_j for s in mine) == pytest.approx(
            sim_energy_j(role, T0 + 3, T0 + 62), rel=1e-12
        )
        # 10 s samples where nothing interrupted them: (T0+3, T0+10], then whole windows.
        assert [s.duration_s for s in mine if s.ts <= T0 + 30] == [7.0, 10.0, 10.0]


def test_a_zero_length_read_adds_its_energy_and_no_share():
    aggregator = SampleAggregator(10)
    aggregator.add([read(1, 0.5, duration=0.0, power=0.0, tags=[{"project": "a", "share": 1.0}])])
    (sample,) = aggregator.flush_all()
    assert (sample.energy_j, sample.duration_s, sample.tags) == (0.5, 0.0, None)
