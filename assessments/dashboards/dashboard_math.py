"""Pure helpers for the dashboards: periods to compare, deltas, spreading work over days.

Plain values in, plain values out; no Django.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from dateutil.relativedelta import relativedelta


@dataclass(frozen=True)
class Period:
    label: str
    start: date
    end: date  # exclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def month_comparison(end: date) -> tuple[Period, Period, Period]:
    """The month holding the last day before `end` (to date), the same days of the month before,
    and the same days a year earlier; month-to-date is compared like with like."""
    last_day = end - timedelta(days=1)
    month_start = last_day.replace(day=1)
    month_end = min(end, month_start + relativedelta(months=1))

    def shifted(months: int) -> tuple[date, date]:
        start = month_start - relativedelta(months=months)
        full_end = start + relativedelta(months=1)
        # Same number of days as the current period, never past the end of that month.
        return start, min(full_end, start + (month_end - month_start))

    prev_start, prev_end = shifted(1)
    year_start, year_end = shifted(12)
    return (
        Period(f"{month_start:%B %Y}", month_start, month_end),
        Period(f"{prev_start:%B %Y}", prev_start, prev_end),
        Period(f"{year_start:%B %Y}", year_start, year_end),
    )


def delta_pct(current: float | None, previous: float | None) -> float | None:
    """Relative change in percent; None where there is nothing to compare with."""
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / abs(previous) * 100.0


def per_unit(amount: float | None, units: float | None) -> float | None:
    if amount is None or not units:
        return None
    return amount / units


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def spread_over_days(
    records: list[tuple[datetime, datetime, float]], start: date, end: date
) -> dict[date, float]:
    """Units of work per UTC day in [start, end): each record's units spread evenly over its
    period, so a weekly figure counts one seventh on each day."""
    result: dict[date, float] = {}
    range_start, range_end = day_start(start), day_start(end)
    for period_start, period_end, units in records:
        seconds = (period_end - period_start).total_seconds()
        if seconds <= 0:
            continue
        lo, hi = max(period_start, range_start), min(period_end, range_end)
        cursor = lo
        while cursor < hi:
            next_day = day_start(cursor.date() + timedelta(days=1))
            piece_end = min(next_day, hi)
            share = (piece_end - cursor).total_seconds() / seconds
            result[cursor.date()] = result.get(cursor.date(), 0.0) + units * share
            cursor = piece_end
    return result


def overlap_share(
    period_start: datetime, period_end: datetime, range_start: datetime, range_end: datetime
) -> float:
    """Share of [period_start, period_end) that falls inside [range_start, range_end)."""
    seconds = (period_end - period_start).total_seconds()
    if seconds <= 0:
        return 0.0
    overlap = (min(period_end, range_end) - max(period_start, range_start)).total_seconds()
    return max(0.0, overlap) / seconds


def age_years(purchased: date | None, on: date) -> float | None:
    if purchased is None:
        return None
    return max(0.0, (on - purchased).days / 365.25)
