"""Alert arithmetic (docs/methodology.md, "Alerts"): plain values in, plain values out.

Every kind reduces to one value compared with its rule's threshold, higher being worse. A rule
fires when the value passes the threshold and resolves only once it has fallen HYSTERESIS below
it, so a value hovering at the threshold makes one episode, not a flapping series.
"""

from dataclasses import dataclass
from datetime import date

HYSTERESIS = 0.1  # a firing resolves at 90 % of the threshold
SCI_RECENT_DAYS = 3
SCI_BASELINE_DAYS = 14


def transition(*, open_episode: bool, value: float | None, threshold: float) -> str | None:
    """ "fire", "resolve" or None (no change). No value (nothing to judge): an open episode
    resolves, none fires."""
    if value is None:
        return "resolve" if open_episode else None
    if not open_episode:
        return "fire" if value > threshold else None
    return "resolve" if value <= threshold * (1 - HYSTERESIS) else None


@dataclass(frozen=True)
class DayFigures:
    day: date
    kgco2e: float
    units: float


@dataclass(frozen=True)
class SciRegression:
    change_pct: float  # recent SCI against the baseline's, in percent
    recent_sci: float
    baseline_sci: float
    began_on: date


def sci_regression(
    days: list[DayFigures], *, threshold_pct: float, min_units: float
) -> SciRegression | None:
    """The last SCI_RECENT_DAYS days' SCI (kgCO2e per unit) against the SCI_BASELINE_DAYS
    before them. None when either window has fewer than min_units units of work (or none): a
    quiet day is no alarm. began_on: the first recent day whose own SCI passes the baseline by
    more than threshold_pct, else the first recent day.

    days: consecutive days, oldest first, the last SCI_RECENT_DAYS being the recent window."""
    recent = days[-SCI_RECENT_DAYS:]
    baseline = days[-SCI_RECENT_DAYS - SCI_BASELINE_DAYS : -SCI_RECENT_DAYS]
    recent_units = sum(d.units for d in recent)
    baseline_units = sum(d.units for d in baseline)
    if not recent or not baseline or recent_units <= 0 or baseline_units <= 0:
        return None
    if recent_units < min_units or baseline_units < min_units:
        return None
    recent_sci = sum(d.kgco2e for d in recent) / recent_units
    baseline_sci = sum(d.kgco2e for d in baseline) / baseline_units
    if baseline_sci <= 0:
        return None
    change = 100 * (recent_sci / baseline_sci - 1)
    limit = baseline_sci * (1 + threshold_pct / 100)
    began = next((d.day for d in recent if d.units > 0 and d.kgco2e / d.units > limit), None)
    return SciRegression(change, recent_sci, baseline_sci, began or recent[0].day)
