"""Budget arithmetic, checked by hand (docs/methodology.md, "Budgets")."""

from datetime import UTC, datetime

import pytest

from assessments.watch import budget_math as bm


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "moment", "start", "end"),
    [
        ("month", at(2026, 11, 16, 12), at(2026, 11, 1), at(2026, 12, 1)),
        ("month", at(2026, 12, 31, 23, 59), at(2026, 12, 1), at(2027, 1, 1)),
        ("quarter", at(2026, 11, 16), at(2026, 10, 1), at(2027, 1, 1)),
        ("quarter", at(2026, 3, 31, 23), at(2026, 1, 1), at(2026, 4, 1)),
        ("quarter", at(2026, 4, 1), at(2026, 4, 1), at(2026, 7, 1)),
        ("year", at(2026, 2, 28), at(2026, 1, 1), at(2027, 1, 1)),
    ],
)
def test_periods_are_utc_calendar_periods(period, moment, start, end):
    assert bm.period_bounds(period, moment) == (start, end)


def test_an_unknown_period_is_refused():
    with pytest.raises(ValueError, match="week"):
        bm.period_bounds("week", at(2026, 1, 1))


def test_run_rate_days_are_the_seven_complete_days_before_today():
    assert bm.run_rate_days(at(2026, 11, 16, 12)) == (at(2026, 11, 9), at(2026, 11, 16))
    assert bm.run_rate_days(at(2026, 11, 1)) == (at(2026, 10, 25), at(2026, 11, 1))


def test_days_left_count_fractions_and_stop_at_zero():
    assert bm.days_left(at(2026, 11, 16, 12), at(2026, 12, 1)) == 14.5
    assert bm.days_left(at(2026, 12, 2), at(2026, 12, 1)) == 0.0


def test_forecast_range_and_status_by_hand():
    # Mean of the 7 days 20, smallest 10, largest 30; 14.5 days left.
    standing = bm.budget_standing(
        limit=500, used=300, daily_totals=[10, 20, 30, 10, 20, 30, 20], days_remaining=14.5
    )
    assert standing.run_rate_per_day == 20
    assert standing.forecast == bm.Forecast(value=590.0, low=445.0, high=735.0)
    assert standing.status == "at_risk"


def test_status_over_once_used_passes_the_limit():
    standing = bm.budget_standing(limit=100, used=100.5, daily_totals=[0.0], days_remaining=3)
    assert standing.status == "over"
    assert standing.forecast.value == 100.5


def test_status_on_track_when_the_forecast_equals_the_limit():
    standing = bm.budget_standing(limit=100, used=40, daily_totals=[6, 6], days_remaining=10)
    assert standing.forecast.value == 100
    assert standing.status == "on_track"


def test_without_run_rate_days_the_forecast_is_what_is_used():
    standing = bm.budget_standing(limit=10, used=4, daily_totals=[], days_remaining=20)
    assert standing.forecast == bm.Forecast(4, 4, 4)
    assert standing.status == "on_track"
