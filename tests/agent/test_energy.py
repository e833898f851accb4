import pytest

from collectors.agent.energy import (
    MAX_GAP_S,
    PowerIntegrator,
    counter_delta,
    split_interval,
)


def test_counter_delta_is_the_increase():
    assert counter_delta(1_000, 4_500) == (3_500, False)


def test_counter_going_down_without_a_range_is_a_reset_counting_from_the_new_value():
    assert counter_delta(9_000_000, 1_200) == (1_200, True)


def test_counter_going_down_with_a_range_is_a_wrap():
    # RAPL: max_energy_range_uj 1000, 990 -> 15 means 10 to the wrap and 15 after it.
    assert counter_delta(990, 15, wrap_at=1000) == (25, False)


def test_short_interval_is_one_piece():
    pieces, dropped = split_interval(100.0, 1.0, 300.0)
    assert [(p.end_ts, p.duration_s, p.energy_j) for p in pieces] == [(100.0, 1.0, 300.0)]
    assert dropped == 0


def test_long_gap_is_cut_into_hour_pieces_at_mean_power():
    # 2.5 hours at a mean of 200 W = 1,800,000 J.
    pieces, dropped = split_interval(10_000.0, 9_000.0, 1_800_000.0)
    assert [p.duration_s for p in pieces] == [3600.0, 3600.0, 1800.0]
    assert [p.end_ts for p in pieces] == [4_600.0, 8_200.0, 10_000.0]
    assert [p.energy_j for p in pieces] == pytest.approx([720_000.0, 720_000.0, 360_000.0])
    assert sum(p.energy_j for p in pieces) == pytest.approx(1_800_000.0)
    assert dropped == 0


def test_gap_beyond_the_bound_keeps_the_recent_part_and_counts_the_rest():
    duration = MAX_GAP_S + 3600.0
    pieces, dropped = split_interval(1e9, duration, duration * 100.0)  # 100 W throughout
    assert sum(p.duration_s for p in pieces) == pytest.approx(MAX_GAP_S)
    assert dropped == pytest.approx(3600.0 * 100.0)
    assert max(p.duration_s for p in pieces) <= 3600.0


def test_power_integrator_uses_the_trapezoid_rule():
    integrator = PowerIntegrator()
    for t, power in [(0.0, 100.0), (0.2, 200.0), (0.4, 200.0), (1.0, 100.0)]:
        integrator.add(t, power)
    energy, duration = integrator.take()
    # 0.2*(150) + 0.2*200 + 0.6*150 = 30 + 40 + 90
    assert energy == pytest.approx(160.0)
    assert duration == pytest.approx(1.0)


def test_power_integrator_starts_the_next_interval_where_the_last_ended():
    integrator = PowerIntegrator()
    integrator.add(0.0, 100.0)
    integrator.add(1.0, 100.0)
    integrator.take()
    integrator.add(3.0, 300.0)
    assert integrator.take() == pytest.approx((400.0, 2.0))
