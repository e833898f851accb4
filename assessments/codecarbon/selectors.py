"""Reads of CodeCarbon data: the reported energy every footprint read adds, and the pages' lists.

`codecarbon_footprint()` (and `codecarbon_counted_by()` for breakdowns) are what
assessments.footprint.scope_figures calls, so every surface counts the same CodeCarbon energy.
The rule (docs/methodology.md, "Energy reported by CodeCarbon"): a project-hour in which the agent
measured the project (an HourlyProjectFact attributed to it by tag or allocation) is the
agent's; CodeCarbon's energy of that hour is overlap, shown and not counted. Every other
CodeCarbon hour counts, with the factors stored on its HourlyCodeCarbonFact.
"""

import functools
import operator
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, Sum

from assessments.models import (
    CodeCarbonExperiment,
    CodeCarbonRun,
    HourlyCodeCarbonFact,
    HourlyProjectFact,
    Project,
)

COUNTED_FIELDS = ("energy_it_kwh", "energy_facility_kwh", "operational_kgco2e", "cost")


def _agent_measured():
    return HourlyProjectFact.objects.filter(
        project_id=OuterRef("project_id"),
        hour=OuterRef("hour"),
        attribution__in=[
            HourlyProjectFact.Attribution.TAG,
            HourlyProjectFact.Attribution.ALLOCATION,
        ],
        energy_it_kwh__gt=0,
    )


def _scoped_facts(*, start, end, project=None, team=None, site=None, phase=None):
    facts = HourlyCodeCarbonFact.objects.filter(hour__gte=start, hour__lt=end)
    filters = {"project": project, "team": team, "site": site, "phase": phase}
    return facts.filter(**{name: value for name, value in filters.items() if value is not None})


def codecarbon_counted_by(
    key,
    *,
    start: datetime,
    end: datetime,
    project=None,
    team=None,
    site=None,
    phase=None,
    and_site: bool = False,
) -> dict:
    """{value of `key` (a fact column: team_id, site_id, phase, project_id; a tuple of them,
    valued by a tuple; or an expression of the hour, such as its UTC day): the counted figures}
    over [start, end): the same rule as codecarbon_footprint, per group (the breakdowns and the
    series). and_site: keyed by (value, site id), for the ranges, whose bounds differ per site."""
    facts = _scoped_facts(
        start=start, end=end, project=project, team=team, site=site, phase=phase
    ).filter(~Exists(_agent_measured()))
    if isinstance(key, tuple):
        keys = list(key)
    elif isinstance(key, str):
        keys = [key]
    else:
        facts, keys = facts.annotate(group=key), ["group"]
    result = {}
    columns = [*keys, "site_id"] if and_site else keys
    for row in facts.values(*columns).annotate(**{n: Sum(n) for n in COUNTED_FIELDS}).order_by():
        value = tuple(row[k] for k in keys) if isinstance(key, tuple) else row[keys[0]]
        result[(value, row["site_id"]) if and_site else value] = {
            name: row[name] or 0.0 for name in COUNTED_FIELDS
        }
    return result


def codecarbon_footprint(
    *,
    start: datetime,
    end: datetime,
    project: Project | None = None,
    team=None,
    site=None,
    phase: str | None = None,
) -> dict:
    """CodeCarbon's reported energy over [start, end) (UTC datetimes), for the same scope as
    footprint(): `counted` (the figures footprint() adds to its totals) and the summary shown
    as "reported by CodeCarbon" and "overlap (not counted)"."""
    [found] = codecarbon_footprints(
        [(start, end)], project=project, team=team, site=site, phase=phase
    )
    return found


def codecarbon_footprints(
    periods: list[tuple[datetime, datetime]],
    *,
    project: Project | None = None,
    team=None,
    site=None,
    phase: str | None = None,
) -> list[dict]:
    """codecarbon_footprint() of each (start, end) period, in two queries."""
    in_periods = [Q(hour__gte=start, hour__lt=end) for start, end in periods]
    facts = _scoped_facts(
        start=min(start for start, _ in periods),
        end=max(end for _, end in periods),
        project=project,
        team=team,
        site=site,
        phase=phase,
    ).filter(functools.reduce(operator.or_, in_periods))
    sums = [{"counted": {}, "overlap": {}} for _ in periods]
    rows = (
        facts.annotate(measured=Exists(_agent_measured()))
        .values("measured")
        .annotate(
            **{
                f"{name}__{n}": Sum(name, filter=part)
                for n, part in enumerate(in_periods)
                for name in COUNTED_FIELDS
            },
        )
        .order_by()
    )
    rows = list(rows)
    for row in rows:
        key = "overlap" if row["measured"] else "counted"
        for n, found in enumerate(sums):
            found[key] = {name: row[f"{name}__{n}"] or 0.0 for name in COUNTED_FIELDS}
    runs = dict.fromkeys((f"runs_{n}" for n in range(len(periods))), 0)
    if rows:  # no fact in any period: no run either
        runs = facts.aggregate(
            **{
                f"runs_{n}": Count("run", distinct=True, filter=part)
                for n, part in enumerate(in_periods)
            }
        )
    return [_footprint_of(found, runs[f"runs_{n}"]) for n, found in enumerate(sums)]


def _footprint_of(sums: dict, runs: int) -> dict:
    counted = {name: sums["counted"].get(name, 0.0) for name in COUNTED_FIELDS}
    overlap = {name: sums["overlap"].get(name, 0.0) for name in COUNTED_FIELDS}
    return {
        "counted": counted,
        "summary": {
            "energy_kwh": counted["energy_it_kwh"],
            "facility_energy_kwh": counted["energy_facility_kwh"],
            "operational_kgco2e": counted["operational_kgco2e"],
            "cost": counted["cost"],
            "overlap_energy_kwh": overlap["energy_it_kwh"],
            "overlap_operational_kgco2e": overlap["operational_kgco2e"],
            "runs": runs,
        },
    }


def experiments_of_project(project: Project):
    return (
        CodeCarbonExperiment.objects.filter(project=project)
        .select_related("site")
        .annotate(run_count=Count("runs", distinct=True))
        .order_by("created_at")
    )


def recent_runs_of_project(project: Project, *, limit: int = 10) -> list[dict]:
    """The latest runs with their reported energy (all of it, overlap included)."""
    runs = (
        CodeCarbonRun.objects.filter(project=project)
        .annotate(
            energy_kwh=Sum("emissions__energy_kwh"),
            intervals=Count("emissions"),
        )
        .order_by("-started_at")[:limit]
    )
    return list(runs)
