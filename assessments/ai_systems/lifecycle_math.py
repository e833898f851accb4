"""The lifecycle arithmetic of an AI system's version, on plain numbers (no Django, no database):
docs/methodology.md, "AI systems: a version's lifecycle footprint".

- A version's one-off footprint is the sum of its producing projects' figures over their windows;
  its serving footprint the sum of its serving projects' figures within the period, where a
  project serving several versions at once gives each the share of its output tokens.
- Amortised one-off per request = one_off / max(planned requests, requests served to date), so a
  version is never charged more than its one-off.
- Lifecycle carbon per 1,000 requests = (serving carbon / requests + amortised one-off per
  request) x 1,000: the consumer's view of GSF's SCI for AI (per request), whereas the one-off
  alone is the provider's view (per training).
- Ranges: a part's bounds are its project's (footprint.ranges_math) times its share, the bounds
  of a sum the sums of its parts' bounds; the per-request figures are the same formulas at the
  low and at the high (work is counted, not uncertain).
"""

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from assessments.footprint import ranges_math as rm

# The summed figures of a footprint (the facts' names; the read API renames them once).
SUMMED = (
    "energy_it_kwh",
    "energy_facility_kwh",
    "operational_kgco2e",
    "embodied_kgco2e",
    "cost",
    "gpu_hours",
)
# The figures with a range (GPU-hours are counted); SCI's is total's over the work units.
RANGED = (
    "energy_it_kwh",
    "energy_facility_kwh",
    "operational_kgco2e",
    "embodied_kgco2e",
    "total_kgco2e",
    "cost",
)


@dataclass(frozen=True)
class Figures:
    """Figures of one part of a version's footprint, or of their sum.

    work_units: the units of work of the part (its project's declared kind); work_unit: their
    name, None where the parts count different units (then no SCI). coverage: the lowest of the
    parts' (a sum is only as well measured as its worst-measured part), None without any.
    ranges: {name in RANGED: Bounds}; a name left out has no uncertain input (low = value =
    high).
    """

    energy_it_kwh: float = 0.0
    energy_facility_kwh: float = 0.0
    operational_kgco2e: float = 0.0
    embodied_kgco2e: float = 0.0
    cost: float = 0.0
    gpu_hours: float = 0.0
    work_units: float = 0.0
    work_unit: str | None = ""
    coverage: float | None = None
    ranges: Mapping[str, rm.Bounds] = field(default_factory=dict, compare=False)

    @property
    def total_kgco2e(self) -> float:
        return self.operational_kgco2e + self.embodied_kgco2e

    @property
    def sci(self) -> float | None:
        """kgCO2e per unit of work, None without units or with mixed units."""
        if self.work_unit is None or self.work_units <= 0:
            return None
        return self.total_kgco2e / self.work_units

    def bounds(self, name: str) -> rm.Bounds:
        """The range of a figure of RANGED."""
        return self.ranges.get(name) or rm.exact_bounds(getattr(self, name))

    @property
    def all_ranges(self) -> dict[str, rm.Bounds | None]:
        """Every figure's range under the facts' names, SCI's None without SCI."""
        result: dict[str, rm.Bounds | None] = {name: self.bounds(name) for name in RANGED}
        result["sci"] = (
            rm.divided_bounds(result["total_kgco2e"], self.work_units)
            if self.sci is not None
            else None
        )
        return result

    def scaled(self, share: float) -> "Figures":
        """This part's figures and their bounds times a share (work units and coverage
        unchanged: the caller counts the share's own work)."""
        return replace(
            self,
            **{name: getattr(self, name) * share for name in SUMMED},
            ranges={name: rm.scaled_bounds(self.bounds(name), share) for name in RANGED},
        )

    def counting(self, work_units: float, work_unit: str | None) -> "Figures":
        """The same figures over other units of work (serving: its requests)."""
        return replace(self, work_units=work_units, work_unit=work_unit)


def figures_sum(parts: Iterable[Figures]) -> Figures:
    parts = list(parts)
    if not parts:
        return Figures()
    units = {part.work_unit for part in parts}
    coverages = [part.coverage for part in parts if part.coverage is not None]
    return Figures(
        **{name: math.fsum(getattr(part, name) for part in parts) for name in SUMMED},
        work_units=math.fsum(part.work_units for part in parts),
        work_unit=units.pop() if len(units) == 1 else None,
        coverage=min(coverages) if coverages else None,
        ranges={name: rm.summed_bounds(part.bounds(name) for part in parts) for name in RANGED},
    )


def windows_overlap(
    a_start: datetime, a_end: datetime | None, b_start: datetime, b_end: datetime | None
) -> bool:
    """Whether [a_start, a_end) and [b_start, b_end) share time (an end None is open)."""
    return (a_end is None or b_start < a_end) and (b_end is None or a_start < b_end)


def clip(
    start: datetime, end: datetime | None, period_start: datetime, period_end: datetime
) -> tuple[datetime, datetime] | None:
    """[start, end) within [period_start, period_end), None when they share no time."""
    lo = max(start, period_start)
    hi = period_end if end is None else min(end, period_end)
    return (lo, hi) if hi > lo else None


def segments(start: datetime, end: datetime, cuts: Iterable[datetime]) -> list[tuple]:
    """[start, end) cut at the points strictly inside it."""
    bounds = [start, *sorted({cut for cut in cuts if start < cut < end}), end]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def output_token_shares(
    output_tokens: Mapping[Hashable, float], served: Iterable[Hashable]
) -> dict[Hashable, float]:
    """Each served version's share of a project's figures over a time both serve: its output
    tokens over theirs; equal shares when none produced a token (idle serving is still theirs,
    as allocations that overlap split a device equally)."""
    served = list(served)
    tokens = {key: max(output_tokens.get(key, 0.0), 0.0) for key in served}
    total = math.fsum(tokens.values())
    if total <= 0:
        return {key: 1.0 / len(served) for key in served} if served else {}
    return {key: value / total for key, value in tokens.items()}


def amortisation_requests(planned_requests: float | None, requests_to_date: float) -> float:
    """The requests a one-off is spread over: the planned volume, or more once served."""
    return max(planned_requests or 0.0, requests_to_date)


def amortised_one_off_per_request(
    one_off_kgco2e: float, planned_requests: float | None, requests_to_date: float
) -> float | None:
    """one_off / max(planned, served to date); None when neither is known (no request)."""
    requests = amortisation_requests(planned_requests, requests_to_date)
    return one_off_kgco2e / requests if requests > 0 else None


def lifecycle_kgco2e_per_1k_requests(
    serving_kgco2e: float, requests: float, amortised_per_request: float | None
) -> float | None:
    """Serving carbon per 1,000 requests plus the amortised one-off per 1,000 requests; None
    without requests in the period. Never more one-off than the whole one-off: the amortised
    part times the requests served to date is at most one_off."""
    if requests <= 0:
        return None
    return (serving_kgco2e / requests + (amortised_per_request or 0.0)) * 1_000


def lifecycle_bounds(
    serving_kgco2e: rm.Bounds,
    one_off_kgco2e: rm.Bounds,
    requests: float,
    planned_requests: float | None,
    requests_to_date: float,
) -> rm.Bounds | None:
    """Lifecycle carbon per 1,000 requests at the serving and one-off lows, and at their highs
    (both grow with every input, so these are its lowest and highest); None without requests."""
    ends = [
        lifecycle_kgco2e_per_1k_requests(
            serving,
            requests,
            amortised_one_off_per_request(one_off, planned_requests, requests_to_date),
        )
        for serving, one_off in (
            (serving_kgco2e.low, one_off_kgco2e.low),
            (serving_kgco2e.high, one_off_kgco2e.high),
        )
    ]
    return None if ends[0] is None else rm.Bounds(ends[0], ends[1])
