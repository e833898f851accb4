"""Footprint totals of the organisation and of every site, team and project over whole UTC days:
what Prometheus' footprint gauges show (collectors/metrics.py, docs/metrics.md).

The figures are the read API's (GET /api/v1/footprint, /teams/<slug>/footprint, ...) for the
same scope and days:
- the organisation and each site: footprint() itself, which over whole days reads the daily
  aggregates and adds the embodied carbon of in-service hours nothing measured;
- teams and projects: one grouped query over the daily aggregates (DailyProjectFact, which the
  rollup keeps equal to the sums of the hourly facts footprint() reads for them) and one over
  CodeCarbon's counted hours, for all of them at once, so the cost follows the days and the
  number of teams and projects, not the fleet's device-hours.
"""

from datetime import date
from typing import NamedTuple

from django.db.models import Sum

from assessments.codecarbon.selectors import codecarbon_counted_by
from assessments.footprint.selectors import as_utc_datetime, footprint
from assessments.models import DailyProjectFact, Organisation, Project, Site, Team

SCOPE_KINDS = ("organisation", "site", "team", "project")
_SUMMED = ("energy_it_kwh", "energy_facility_kwh", "operational_kgco2e", "embodied_kgco2e", "cost")


class ScopeTotals(NamedTuple):
    kind: str  # one of SCOPE_KINDS
    name: str  # the organisation's or site's name, the team's or project's slug
    energy_facility_kwh: float
    energy_it_kwh: float
    carbon_kgco2e: float  # operational + embodied, the API's total_kgco2e
    cost: float  # in the organisation's currency


def _from_footprint(kind: str, name: str, figures: dict) -> ScopeTotals:
    return ScopeTotals(
        kind=kind,
        name=name,
        energy_facility_kwh=figures["facility_energy_kwh"],
        energy_it_kwh=figures["energy_kwh"],
        carbon_kgco2e=figures["total_kgco2e"],
        cost=figures["cost"],
    )


def _grouped(field: str, start: date, end: date) -> dict[int, dict[str, float]]:
    """{team or project id: sums} of the daily aggregates plus CodeCarbon's counted hours."""
    rows = (
        DailyProjectFact.objects.filter(day__gte=start, day__lt=end, **{f"{field}__isnull": False})
        .values(field)
        .annotate(**{name: Sum(name) for name in _SUMMED})
        .order_by()
    )
    sums = {row[field]: {name: row[name] or 0.0 for name in _SUMMED} for row in rows}
    reported = codecarbon_counted_by(
        start=as_utc_datetime(start), end=as_utc_datetime(end), field=field
    )
    for key, counted in reported.items():
        if key is None:
            continue
        target = sums.setdefault(key, dict.fromkeys(_SUMMED, 0.0))
        for name, value in counted.items():
            target[name] += value
    return sums


def _from_sums(kind: str, name: str, sums: dict[str, float] | None) -> ScopeTotals:
    sums = sums or dict.fromkeys(_SUMMED, 0.0)
    return ScopeTotals(
        kind=kind,
        name=name,
        energy_facility_kwh=sums["energy_facility_kwh"],
        energy_it_kwh=sums["energy_it_kwh"],
        carbon_kgco2e=sums["operational_kgco2e"] + sums["embodied_kgco2e"],
        cost=sums["cost"],
    )


def scope_totals(*, start: date, end: date) -> list[ScopeTotals]:
    """Totals over the UTC days [start, end) of the organisation, every site, every team and
    every project with figures in those days."""
    organisation = Organisation.get().name
    totals = [_from_footprint("organisation", organisation, footprint(start=start, end=end))]
    for site in Site.objects.order_by("name"):
        totals.append(
            _from_footprint("site", site.name, footprint(start=start, end=end, site=site))
        )
    by_team = _grouped("team", start, end)
    for pk, slug in Team.objects.order_by("slug").values_list("pk", "slug"):
        totals.append(_from_sums("team", slug, by_team.get(pk)))
    by_project = _grouped("project", start, end)
    projects = Project.objects.filter(pk__in=by_project).order_by("slug").values_list("pk", "slug")
    for pk, slug in projects:
        totals.append(_from_sums("project", slug, by_project[pk]))
    return totals
