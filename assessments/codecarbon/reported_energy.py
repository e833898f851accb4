"""Reported energy split into UTC hours (pure; docs/methodology.md).

CodeCarbon reports energy per interval [timestamp - duration, timestamp). Like an agent sample,
an interval that crosses an hour boundary splits pro rata by time.
"""

from dataclasses import dataclass

from assessments.footprint import footprint_math as fm


@dataclass
class HourSums:
    seconds: float = 0.0
    energy_kwh: float = 0.0


def hourly_parts(
    ts_end: float, duration_s: float, energy_kwh: float
) -> list[tuple[float, float, float]]:
    """(hour start, seconds, kWh) of each UTC hour the interval ending at ts_end overlaps.

    Epoch seconds in and out. An interval without duration puts all its energy in the hour
    holding its end (never silently lost).
    """
    parts = []
    for hour in fm.hours_touched(ts_end, duration_s):
        segment = [(hour, hour + fm.SECONDS_PER_HOUR)]
        for _, seconds, energy in fm.split_sample(ts_end, duration_s, energy_kwh, segment):
            parts.append((hour, seconds, energy))
    return parts


def sum_by_hour(intervals) -> dict[float, HourSums]:
    """{hour start: seconds and kWh} over (ts_end, duration_s, energy_kwh) intervals."""
    hours: dict[float, HourSums] = {}
    for ts_end, duration_s, energy_kwh in intervals:
        for hour, seconds, energy in hourly_parts(ts_end, duration_s, energy_kwh):
            sums = hours.setdefault(hour, HourSums())
            sums.seconds += seconds
            sums.energy_kwh += energy
    return hours
