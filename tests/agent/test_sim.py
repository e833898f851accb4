import pytest

from collectors.agent.sources.sim import SimSource, device_uuid, energy_j, power_w, role_for


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def open_sim(count=4, hostname="gpu-node-01", now=1_795_000_000.0, state=None):
    clock = Clock(now)
    source = SimSource(count=count, hostname=hostname, interval_s=1.0, clock=clock)
    source.open(state)
    return source, clock


def test_uuids_are_stable_per_hostname_and_index():
    assert device_uuid("gpu-node-01", 0) == device_uuid("gpu-node-01", 0)
    assert device_uuid("gpu-node-01", 0) != device_uuid("gpu-node-02", 0)
    source, _ = open_sim()
    assert [d.uuid for d in source.devices()] == [device_uuid("gpu-node-01", i) for i in range(4)]
    assert {d.name for d in source.devices()} == {"NVIDIA H100 80GB HBM3"}


def test_same_time_gives_the_same_samples():
    first, _ = open_sim(now=1_795_000_000.4)
    second, _ = open_sim(now=1_795_000_000.9)
    assert [s.to_payload() for s in first.read()] == [s.to_payload() for s in second.read()]


def test_loads_are_realistic_for_each_role():
    day = [1_795_000_000.0 + h * 3600 for h in range(24)]
    training, inference, idle, shared = (role_for(i, 0.3) for i in range(4))
    assert all(600 <= power_w(training, t) <= 700 for t in day)
    assert all(60 <= power_w(idle, t) <= 70 for t in day)
    inference_day = [power_w(inference, t) for t in day]
    assert max(inference_day) - min(inference_day) > 250  # busy afternoons, quiet nights
    assert all(0 < power_w(shared, t) <= 700 for t in day)


def test_energy_of_an_interval_is_the_integral_of_power():
    role = role_for(1, 1.0)
    start, end = 1_795_000_000.0, 1_795_000_600.0
    steps = 60_000
    width = (end - start) / steps
    numeric = sum(power_w(role, start + (k + 0.5) * width) * width for k in range(steps))
    assert energy_j(role, start, end) == pytest.approx(numeric, rel=1e-6)


def test_samples_are_one_interval_each_and_tagged_with_projects():
    source, clock = open_sim()
    source.read()
    clock.now += 1.0
    samples = source.read()
    assert len(samples) == 4
    assert all(s.duration_s == 1.0 for s in samples)
    training, inference, idle, shared = samples
    assert training.tags == [{"project": "llm-finetune", "phase": "fine_tuning", "share": 1.0}]
    assert inference.tags[0]["project"] == "chat-inference"
    assert idle.tags is None
    assert sum(tag["share"] for tag in shared.tags) == pytest.approx(1.0)


def test_reading_twice_in_one_interval_gives_nothing_new():
    source, clock = open_sim()
    source.read()
    clock.now += 0.3
    assert source.read() == []


def test_restart_with_saved_state_covers_the_gap_exactly():
    source, clock = open_sim(count=1)
    source.read()
    saved, last_end = source.state(), clock.now // 1
    restarted, clock = open_sim(count=1, now=clock.now + 5000.0, state=saved)
    samples = restarted.read()
    assert [s.duration_s for s in samples] == [3600.0, 1400.0]
    role = role_for(0, restarted._devices[0][1].waves[0].phase)
    assert sum(s.energy_j for s in samples) == pytest.approx(
        energy_j(role, last_end, last_end + 5000)
    )
