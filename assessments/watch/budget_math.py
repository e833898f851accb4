"""Budget arithmetic (docs/methodology.md, "Budgets"): plain values in, plain values out.

A budget's period is a calendar month, quarter or year in UTC. Its forecast is what is used so
far plus the run-rate times the days left, the run-rate being the mean of the last 7 complete
days' totals; the low and high forecasts use those days' smallest and largest totals instead.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

PERIODS = ("month", "quarter", "year")
RUN_RATE_DAYS = 7
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Forecast:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class BudgetStanding:
    used: float
    forecast: Forecast
    status: str  # "over" | "at_risk" | "on_track"
    days_left: float
    run_rate_per_day: float


def period_bounds(period: str, moment: datetime) -> tuple[datetime, datetime]:
    """The UTC calendar period containing `moment`, as [start, end)."""
    day = moment.astimezone(UTC).date()
    if period == "month":
        first = day.replace(day=1)
        after = _add_months(first, 1)
    elif period == "quarter":
        first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        after = _add_months(first, 3)
    elif period == "year":
        first = date(day.year, 1, 1)
        after = date(day.year + 1, 1, 1)
    else:
        raise ValueError(f"unknown budget period {period!r} (expected one of {PERIODS})")
    return _midnight(first), _midnight(after)


def run_rate_days(moment: datetime) -> tuple[datetime, datetime]:
    """The last RUN_RATE_DAYS complete UTC days before `moment`, as [start, end)."""
    today = _midnight(moment.astimezone(UTC).date())
    return today - timedelta(days=RUN_RATE_DAYS), today


def days_left(moment: datetime, period_end: datetime) -> float:
    """Days (fractional) from `moment` to the end of the period; 0 once it has ended."""
    return max((period_end - moment).total_seconds() / SECONDS_PER_DAY, 0.0)


def budget_standing(
    *, limit: float, used: float, daily_totals: list[float], days_remaining: float
) -> BudgetStanding:
    """Forecast, its range and the status of one budget.

    daily_totals: the totals of the last complete days (the run-rate days). Without any, the
    run-rate is 0 and the forecast is what is used.
    """
    if daily_totals:
        rate = sum(daily_totals) / len(daily_totals)
        lowest, highest = min(daily_totals), max(daily_totals)
    else:
        rate = lowest = highest = 0.0
    forecast = Forecast(
        value=used + rate * days_remaining,
        low=used + lowest * days_remaining,
        high=used + highest * days_remaining,
    )
    if used > limit:
        status = "over"
    elif forecast.value > limit:
        status = "at_risk"
    else:
        status = "on_track"
    return BudgetStanding(
        used=used,
        forecast=forecast,
        status=status,
        days_left=days_remaining,
        run_rate_per_day=rate,
    )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
