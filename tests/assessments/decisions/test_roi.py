"""Hand-computed ROI cases for the pure module assessments.decisions.roi."""

from datetime import date, timedelta

import pytest

from assessments.decisions import roi
from assessments.decisions.technique_savings import TECHNIQUE_SAVINGS, technique_saving

APPLIED = date(2026, 10, 15)
AS_OF = date(2026, 11, 20)


def days(start: date, count: int, **values) -> list[roi.DailyValues]:
    defaults = dict(facility_energy_kwh=10.0, kgco2e=4.0, cost=2.0, units=100.0, coverage=1.0)
    defaults.update(values)
    return [roi.DailyValues(day=start + timedelta(days=i), **defaults) for i in range(count)]


def baseline_days(**values):
    return days(APPLIED - timedelta(days=14), 14, **values)


def evaluation_days(count=14, **values):
    return days(APPLIED + timedelta(days=1), count, **values)


def measure(daily, **kwargs):
    arguments = dict(
        daily=daily,
        applied_on=APPLIED,
        baseline_days=14,
        evaluation_days=14,
        as_of=AS_OF,
        investment=1000.0,
        recent_monthly_units=3000.0,
        carbon_price_per_t=100.0,
    )
    arguments.update(kwargs)
    return roi.measure(**arguments)


def test_energy_per_unit_halving_gives_hand_computed_savings_payback_and_return():
    # Before: 0.1 kWh, 0.04 kg, 0.02 per unit; after: half of each. 3000 units a month.
    result = measure(
        baseline_days() + evaluation_days(facility_energy_kwh=5.0, kgco2e=2.0, cost=1.0)
    )

    assert result.conclusive
    assert result.warnings == []
    assert result.baseline.facility_energy_kwh_per_unit == pytest.approx(0.1)
    assert result.evaluation.facility_energy_kwh_per_unit == pytest.approx(0.05)
    assert result.energy_change_pct == pytest.approx(-50.0)
    assert result.monthly_facility_energy_kwh == pytest.approx(150.0)  # 0.05 kWh x 3000
    assert result.monthly_kgco2e == pytest.approx(60.0)  # 0.02 kg x 3000
    assert result.monthly_cost == pytest.approx(30.0)  # 0.01 x 3000
    assert result.payback_months == pytest.approx(1000 / 30)
    assert result.net_return_3y == pytest.approx(36 * 30 - 1000)
    assert result.carbon_value_per_month == pytest.approx(60 / 1000 * 100)
    # Identical days: the bootstrap has no spread.
    assert result.facility_energy_kwh_range.low == pytest.approx(150.0)
    assert result.facility_energy_kwh_range.high == pytest.approx(150.0)


def test_change_day_and_days_outside_the_windows_are_left_out():
    noise = [
        roi.DailyValues(
            day=APPLIED, facility_energy_kwh=999, kgco2e=999, cost=999, units=1, coverage=1
        ),
        roi.DailyValues(
            day=APPLIED - timedelta(days=15), facility_energy_kwh=999, kgco2e=9, cost=9, units=1
        ),
    ]
    result = measure(baseline_days() + evaluation_days(facility_energy_kwh=5.0) + noise)

    assert result.baseline.units == 1400
    assert result.evaluation.units == 1400
    assert result.baseline.start == APPLIED - timedelta(days=14)
    assert result.evaluation.start == APPLIED + timedelta(days=1)
    assert result.evaluation.end == APPLIED + timedelta(days=15)
    assert result.monthly_facility_energy_kwh == pytest.approx(150.0)


def test_bootstrap_range_is_reproducible_and_brackets_the_estimate():
    baseline = [
        roi.DailyValues(
            day=APPLIED - timedelta(days=14 - i),
            facility_energy_kwh=8.0 + (i % 5),
            kgco2e=3.0,
            cost=2.0,
            units=100.0,
            coverage=1.0,
        )
        for i in range(14)
    ]
    evaluation = [
        roi.DailyValues(
            day=APPLIED + timedelta(days=1 + i),
            facility_energy_kwh=4.0 + (i % 3),
            kgco2e=2.0,
            cost=1.0,
            units=100.0,
            coverage=1.0,
        )
        for i in range(14)
    ]
    first = measure(baseline + evaluation)
    second = measure(baseline + evaluation)

    assert first.facility_energy_kwh_range == second.facility_energy_kwh_range
    assert (
        first.facility_energy_kwh_range.low
        < first.monthly_facility_energy_kwh
        < first.facility_energy_kwh_range.high
    )
    assert first.facility_energy_kwh_range.high - first.facility_energy_kwh_range.low > 1.0


def test_too_little_data_warns_and_does_not_conclude():
    result = measure(baseline_days() + evaluation_days(count=3, facility_energy_kwh=5.0))

    assert not result.conclusive
    assert any("only 3 days with units" in w for w in result.warnings)
    # The figures are still shown, with the warning beside them.
    assert result.monthly_facility_energy_kwh == pytest.approx(150.0)


def test_no_units_in_a_window_cannot_conclude_and_gives_no_saving():
    result = measure(baseline_days(units=0.0) + evaluation_days())

    assert not result.conclusive
    assert result.monthly_facility_energy_kwh is None
    assert result.payback_months is None
    assert any("Baseline window has no recorded units" in w for w in result.warnings)


def test_low_coverage_warns_and_does_not_conclude():
    result = measure(baseline_days(coverage=0.5) + evaluation_days(facility_energy_kwh=5.0))

    assert not result.conclusive
    assert any("coverage 50%" in w for w in result.warnings)


def test_negative_return_has_no_payback_and_a_negative_net_return():
    # After the change each unit costs 0.025 instead of 0.02: 15 a month more.
    result = measure(
        baseline_days() + evaluation_days(facility_energy_kwh=12.5, kgco2e=5.0, cost=2.5)
    )

    assert result.monthly_cost == pytest.approx(-15.0)
    assert result.monthly_facility_energy_kwh == pytest.approx(-75.0)
    assert result.payback_months is None
    assert result.net_return_3y == pytest.approx(-36 * 15 - 1000)
    assert any("never paid back" in w for w in result.warnings)


def test_without_recent_volume_the_evaluation_window_is_scaled_to_a_month():
    result = measure(
        baseline_days() + evaluation_days(facility_energy_kwh=5.0, units=50.0),
        recent_monthly_units=None,
    )

    assert result.monthly_units == pytest.approx(50 * 30)
    assert "scaled to 30 days" in result.monthly_units_basis


def test_running_evaluation_window_is_cut_at_today_and_says_so():
    result = measure(
        baseline_days() + evaluation_days(facility_energy_kwh=5.0),
        as_of=APPLIED + timedelta(days=9),
    )

    assert result.evaluation.days_elapsed == 8
    assert result.evaluation.units == 800
    assert any("still running: 8 of 14 days" in w for w in result.warnings)


def test_investment_is_hours_times_rate_plus_other_costs():
    assert roi.investment_total(engineering_hours=10, hourly_rate=80, other_costs=200) == 1000


def test_zero_investment_pays_back_at_once():
    assert roi.payback_months(0.0, 10.0) == 0.0
    assert roi.payback_months(100.0, 0.0) is None


def test_cumulative_savings_add_each_days_saving_at_the_baseline_rate():
    daily = evaluation_days(count=3, cost=1.0, units=100.0)
    points = roi.cumulative_savings(
        daily=daily,
        start=APPLIED + timedelta(days=1),
        as_of=APPLIED + timedelta(days=5),
        baseline_cost_per_unit=0.02,
    )

    # Each day with data saves 100 x 0.02 - 1.0 = 1.0; the fourth day has no data.
    assert [round(total, 6) for _, total in points] == [1.0, 2.0, 3.0, 3.0]


def test_what_if_applies_the_techniques_range_to_the_current_footprint():
    saving = technique_saving("quantisation")
    estimate = roi.what_if(
        saving=saving,
        current_monthly_facility_energy_kwh=1000.0,
        current_monthly_cost=200.0,
        current_monthly_kgco2e=300.0,
        current_monthly_operational_kgco2e=250.0,
        investment=800.0,
        carbon_price_per_t=100.0,
    )

    assert estimate.monthly_facility_energy_kwh == roi.Range(100.0, 400.0)
    assert estimate.monthly_cost == roi.Range(20.0, 80.0)
    assert estimate.monthly_kgco2e.low == pytest.approx(30.0)
    assert estimate.payback_months == roi.Range(10.0, 40.0)  # 800/80 best, 800/20 worst
    assert estimate.net_return_3y == roi.Range(36 * 20 - 800, 36 * 80 - 800)
    assert estimate.carbon_value_per_month.high == pytest.approx(120 / 1000 * 100)


def test_what_if_of_carbon_aware_scheduling_saves_operational_carbon_only():
    estimate = roi.what_if(
        saving=technique_saving("carbon_aware"),
        current_monthly_facility_energy_kwh=1000.0,
        current_monthly_cost=200.0,
        current_monthly_kgco2e=300.0,
        current_monthly_operational_kgco2e=200.0,
        investment=100.0,
    )

    assert estimate.monthly_facility_energy_kwh == roi.Range(0.0, 0.0)
    assert estimate.monthly_cost == roi.Range(0.0, 0.0)
    assert estimate.monthly_kgco2e.low == pytest.approx(10.0)  # 5% of 200
    assert estimate.monthly_kgco2e.high == pytest.approx(60.0)  # 30% of 200
    assert estimate.payback_months is None


def test_every_technique_range_names_a_dated_source():
    for saving in TECHNIQUE_SAVINGS.values():
        assert 0 <= saving.low <= saving.high < 1
        assert any(str(year) in saving.source for year in range(2010, 2027)), saving.technique
    assert technique_saving("other") is None
