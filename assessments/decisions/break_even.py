"""When an optimisation that produced a new version pays back its one-off cost (pure: plain
values in and out; docs/decisions.md, "Break-even of a new version").

- one-off: in money, the investment (engineering hours x hourly rate + other costs) plus the
  measured cost of producing the version; in carbon, the measured footprint of producing it;
- saving per request = parent's serving per request - new version's serving per request;
- requests to break even = one-off / saving per request; none (never pays back) when the saving
  is zero or negative, or unknown;
- volume = requests per day over the last 30 days (over the days it has served, when fewer);
- break-even date = as_of + ceil((requests to break even - requests served so far) / volume)
  days; the as_of day itself when already paid back; no date without volume.
"""

import math
from dataclasses import dataclass
from datetime import date, timedelta

VOLUME_DAYS = 30


class Outcome:
    PAID_BACK = "paid_back"  # the requests served so far already repaid the one-off
    PENDING = "pending"  # pays back at the current volume, on `date`
    NO_VOLUME = "no_volume"  # would pay back, but no request was served lately: no date
    NEVER = "never"  # no saving per request (or an unknown one): never pays back
    BEYOND_CALENDAR = "beyond_calendar"  # pays back after the last day a date can name


@dataclass(frozen=True)
class BreakEven:
    one_off: float
    saving_per_request: float | None
    requests_to_break_even: float | None  # None: never
    requests_served: float
    requests_per_day: float
    days_left: float | None  # from as_of; None: never, or no volume
    date: date | None
    outcome: str


def requests_per_day(requests: float, *, days_served: float) -> float:
    """Requests per day over the last VOLUME_DAYS days, or over the days served when fewer."""
    days = min(VOLUME_DAYS, days_served)
    return requests / days if days > 0 and requests > 0 else 0.0


def saving_per_request(
    parent_per_request: float | None, new_per_request: float | None
) -> float | None:
    """What each request served by the new version saves against the parent; None unknown."""
    if parent_per_request is None or new_per_request is None:
        return None
    return parent_per_request - new_per_request


def break_even(
    *,
    one_off: float,
    saving_per_request: float | None,
    requests_served: float,
    requests_per_day: float,
    as_of: date,
) -> BreakEven:
    """The requests (from the new version's first one) and the date at which the saving per
    request has repaid the one-off, in one unit (money or kgCO2e)."""
    fields = {
        "one_off": one_off,
        "saving_per_request": saving_per_request,
        "requests_served": requests_served,
        "requests_per_day": requests_per_day,
    }
    if saving_per_request is None or not saving_per_request > 0:
        return BreakEven(
            **fields, requests_to_break_even=None, days_left=None, date=None, outcome=Outcome.NEVER
        )
    needed = max(one_off, 0.0) / saving_per_request
    left = needed - requests_served
    if left <= 0:
        return BreakEven(
            **fields,
            requests_to_break_even=needed,
            days_left=0.0,
            date=as_of,
            outcome=Outcome.PAID_BACK,
        )
    if not requests_per_day > 0:
        return BreakEven(
            **fields,
            requests_to_break_even=needed,
            days_left=None,
            date=None,
            outcome=Outcome.NO_VOLUME,
        )
    days_left = left / requests_per_day
    if days_left >= (date.max - as_of).days:
        return BreakEven(
            **fields,
            requests_to_break_even=needed,
            days_left=days_left,
            date=None,
            outcome=Outcome.BEYOND_CALENDAR,
        )
    return BreakEven(
        **fields,
        requests_to_break_even=needed,
        days_left=days_left,
        date=as_of + timedelta(days=math.ceil(days_left)),
        outcome=Outcome.PENDING,
    )
