"""Bounds of a work record: what a real project can have done, checked by the API and the form.

A record outside them is a mistake (a unit slip, a timestamp from year 1) that would dominate
every per-unit figure, or overflow a sum: it is refused with a message instead. The units bound
is also a database constraint (assessments.models.WorkRecord).
"""

from datetime import UTC, datetime, timedelta

UNITS_MAX = 1e15
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(days=1)
MAX_LENGTH = timedelta(days=366)  # a year, leap years included


def units_problem(units: float) -> str | None:
    if units > UNITS_MAX:
        return f"must be at most {UNITS_MAX:.0e}, got {units:g}"
    return None


def period_problem(start: datetime, end: datetime, *, now: datetime) -> tuple[str, str] | None:
    """(field, message) of the first bound a period [start, end] breaks, or None."""
    if start < EARLIEST:
        return "start", f"must not be before {EARLIEST:%Y-%m-%d}"
    if end > now + MAX_AHEAD:
        return "end", "must not be more than a day ahead of now"
    if end - start > MAX_LENGTH:
        return "end", "the period must be at most a year (366 days) long"
    return None
