"""Pure helpers for the dashboards: periods to compare, deltas, ages.

Per-unit figures and spreading work over days are assessments.footprint.footprint_math's.

Plain values in, plain values out; no Django.
"""

from dataclasses import dataclass
from datetime import date, timedelta

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


def age_years(purchased: date | None, on: date) -> float | None:
    if purchased is None:
        return None
    return max(0.0, (on - purchased).days / 365.25)
