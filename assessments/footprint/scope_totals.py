"""Footprint totals of the organisation and of every site, team and project over whole UTC days:
what Prometheus' footprint gauges show (collectors/metrics.py, docs/metrics.md).

Every figure comes from the one selector of a scope's figures: the organisation and each site
from scope_figures, every team and every project from scope_breakdown (the same sums split by
team or project in one grouped read of the daily aggregates, CodeCarbon's counted hours
included), so the gauges equal the read API for the same scope and days and cost what the days
and the number of teams and projects cost, not the fleet's device-hours.
"""

from datetime import date
from typing import NamedTuple

from assessments.footprint.scope_figures import Scope, scope_breakdown, scope_figures
from assessments.models import Organisation, Project, Site, Team

SCOPE_KINDS = ("organisation", "site", "team", "project")


class ScopeTotals(NamedTuple):
    kind: str  # one of SCOPE_KINDS
    name: str  # the organisation's or site's name, the team's or project's slug
    energy_facility_kwh: float
    energy_it_kwh: float
    carbon_kgco2e: float  # operational + embodied, the API's total_kgco2e
    cost: float  # in the organisation's currency


def _totals(kind: str, name: str, measures: dict | None) -> ScopeTotals:
    measures = measures or {}
    return ScopeTotals(
        kind=kind,
        name=name,
        energy_facility_kwh=measures.get("energy_facility_kwh", 0.0),
        energy_it_kwh=measures.get("energy_it_kwh", 0.0),
        carbon_kgco2e=measures.get("total_kgco2e", 0.0),
        cost=measures.get("cost", 0.0),
    )


def scope_totals(*, start: date, end: date) -> list[ScopeTotals]:
    """Totals over the UTC days [start, end) of the organisation, every site, every team and
    every project with figures in those days."""
    organisation = scope_figures(scope=Scope(), start=start, end=end, with_ranges=False)
    totals = [_totals("organisation", Organisation.get().name, organisation.as_measures())]
    for site in Site.objects.order_by("name"):
        figures = scope_figures(scope=Scope(site=site), start=start, end=end, with_ranges=False)
        totals.append(_totals("site", site.name, figures.as_measures()))
    by_team = scope_breakdown(by="team", scope=Scope(), start=start, end=end, with_ranges=False)
    for pk, slug in Team.objects.order_by("slug").values_list("pk", "slug"):
        totals.append(_totals("team", slug, by_team.get(pk)))
    by_project = scope_breakdown(
        by="project", scope=Scope(), start=start, end=end, with_ranges=False
    )
    projects = Project.objects.filter(pk__in=by_project).order_by("slug").values_list("pk", "slug")
    for pk, slug in projects:
        totals.append(_totals("project", slug, by_project[pk]))
    return totals
