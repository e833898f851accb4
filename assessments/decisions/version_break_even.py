"""The break-even of an optimisation that produced a new version of a model: its one-off cost
against its measured saving per request over the parent version (docs/decisions.md,
"Break-even of a new version").

Every figure is a version_footprint's; the arithmetic is assessments.decisions.break_even's.
- new version: serving per request over everything it served up to as_of; volume over the last
  30 days before as_of;
- parent: serving per request over the 30 days before the new version's first serving day
  (the parent it replaced, as it was served then);
- one-off: the optimisation's investment plus the measured cost of producing the version
  (money), and the measured footprint of producing it (carbon).
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

from assessments.ai_systems.selectors import version_footprint
from assessments.decisions import break_even as be
from assessments.footprint.footprint_math import per_unit
from assessments.models import AiSystemVersion, VersionProject

_VOLUME = timedelta(days=be.VOLUME_DAYS)


@dataclass(frozen=True)
class VersionBreakEven:
    version: str  # "assistant 2.0"
    parent: str | None
    as_of: date  # the first day not counted (today)
    investment: float  # engineering hours x rate + other costs
    one_off_cost: float  # measured cost of producing the version
    one_off_energy_kwh: float  # facility energy of producing it
    one_off_kgco2e: float
    parent_window: tuple[date, date] | None  # [start, end) the parent's per request is from
    parent_cost_per_request: float | None
    parent_kgco2e_per_request: float | None
    cost_per_request: float | None  # the new version's, from its first serving day to as_of
    kgco2e_per_request: float | None
    requests_last_30_days: float
    money: be.BreakEven
    carbon: be.BreakEven
    notes: list[str] = field(default_factory=list)

    @property
    def one_off_money(self) -> float:
        return self.investment + self.one_off_cost


def _first_serving_day(version: AiSystemVersion) -> date | None:
    first = (
        VersionProject.objects.filter(version=version, role=VersionProject.Role.SERVED_BY)
        .order_by("start")
        .first()
    )
    return None if first is None else first.start.date()


def version_break_even(
    *, version: AiSystemVersion, investment: float, as_of: date
) -> VersionBreakEven:
    notes = []
    recent = version_footprint(version, start=as_of - _VOLUME, end=as_of)
    first_day = _first_serving_day(version)
    days_served = 0 if first_day is None else max(0, (as_of - first_day).days)
    volume = be.requests_per_day(recent.requests, days_served=days_served)
    cost_per_request = kgco2e_per_request = None
    if first_day is not None and first_day < as_of:
        to_date = version_footprint(version, start=first_day, end=as_of)
        cost_per_request = per_unit(to_date.serving.cost, to_date.requests)
        kgco2e_per_request = per_unit(to_date.serving.total_kgco2e, to_date.requests)
    if first_day is None:
        notes.append(f"{version} is not served yet: no saving per request to measure.")
    elif recent.requests <= 0:
        notes.append(f"{version} served no request in the last {be.VOLUME_DAYS} days.")

    parent = version.parent
    parent_window = None
    parent_cost = parent_kgco2e = None
    if parent is None:
        notes.append(f"{version} has no parent version to measure a saving against.")
    elif first_day is not None:
        parent_window = (first_day - _VOLUME, first_day)
        before = version_footprint(parent, start=parent_window[0], end=parent_window[1])
        parent_cost = per_unit(before.serving.cost, before.requests)
        parent_kgco2e = per_unit(before.serving.total_kgco2e, before.requests)
        if before.requests <= 0:
            notes.append(
                f"The parent {parent} served no request in the {be.VOLUME_DAYS} days before "
                f"{version} was first served ({parent_window[0]} to {parent_window[1]})."
            )

    served = recent.requests_to_date
    one_off = recent.one_off
    return VersionBreakEven(
        version=str(version),
        parent=None if parent is None else str(parent),
        as_of=as_of,
        investment=investment,
        one_off_cost=one_off.cost,
        one_off_energy_kwh=one_off.energy_facility_kwh,
        one_off_kgco2e=one_off.total_kgco2e,
        parent_window=parent_window,
        parent_cost_per_request=parent_cost,
        parent_kgco2e_per_request=parent_kgco2e,
        cost_per_request=cost_per_request,
        kgco2e_per_request=kgco2e_per_request,
        requests_last_30_days=recent.requests,
        money=be.break_even(
            one_off=investment + one_off.cost,
            saving_per_request=be.saving_per_request(parent_cost, cost_per_request),
            requests_served=served,
            requests_per_day=volume,
            as_of=as_of,
        ),
        carbon=be.break_even(
            one_off=one_off.total_kgco2e,
            saving_per_request=be.saving_per_request(parent_kgco2e, kgco2e_per_request),
            requests_served=served,
            requests_per_day=volume,
            as_of=as_of,
        ),
        notes=notes,
    )
