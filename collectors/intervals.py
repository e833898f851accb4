"""Which clock hours a sample's interval touches (pure: plain values in and out).

A sample covers [ts - duration_s, ts). With duration_s <= 3600 s it touches one hour or two:
a sample ending at 10:00:30 after 60 s touches 09:00 and 10:00; one ending exactly at 10:00:00
touches only 09:00, since the end is exclusive. The PostgreSQL ingest path computes the same rule
in SQL (collectors.services._PG_INSERT_SQL); the tests run the same cases on both databases.
"""

from datetime import datetime, timedelta

_TINY = timedelta(microseconds=1)


def hour_start(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def hours_touched(ts: datetime, duration_s: float) -> tuple[datetime, ...]:
    """Starts of the hours that [ts - duration_s, ts) overlaps, oldest first."""
    last = hour_start(ts - _TINY)
    # min(): a sub-microsecond duration rounds to zero and must not start after the end.
    first = min(hour_start(ts - timedelta(seconds=duration_s)), last)
    hours = [first]
    while hours[-1] < last:
        hours.append(hours[-1] + timedelta(hours=1))
    return tuple(hours)
