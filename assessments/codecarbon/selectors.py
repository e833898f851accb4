"""Reads of CodeCarbon data: the reported energy every footprint read adds, and the pages' lists.

`codecarbon_footprint()` is the one function the footprint reads call (footprint.selectors.
footprint, and through it the read API, the project page and the monthly report). The rule
(docs/methodology.md, "Energy reported by CodeCarbon"): a project-hour in which the agent
measured the project (an HourlyProjectFact attributed to it by tag or allocation) is the
agent's; CodeCarbon's energy of that hour is overlap, shown and not counted. Every other
CodeCarbon hour counts, with the factors stored on its HourlyCodeCarbonFact.
"""

from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Sum

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
    facts = HourlyCodeCarbonFact.objects.filter(hour__gte=start, hour__lt=end)
    if project is not None:
        facts = facts.filter(project=project)
    if team is not None:
        facts = facts.filter(team=team)
    if site is not None:
        facts = facts.filter(site=site)
    if phase is not None:
        facts = facts.filter(phase=phase)
    sums = {"counted": {}, "overlap": {}}
    rows = (
        facts.annotate(measured=Exists(_agent_measured()))
        .values("measured")
        .annotate(
            **{name: Sum(name) for name in COUNTED_FIELDS},
        )
        .order_by()
    )
    for row in rows:
        key = "overlap" if row["measured"] else "counted"
        sums[key] = {name: row[name] or 0.0 for name in COUNTED_FIELDS}
    runs = facts.values("run").distinct().count()
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


def codecarbon_counted_by(*, start: datetime, end: datetime, field: str) -> dict:
    """The counted CodeCarbon figures over [start, end) per `field` ("team", "project" or
    "site"): {id: {name: sum}} for every COUNTED_FIELDS name, by the rule of
    codecarbon_footprint() (an hour the agent measured for the project is overlap, not
    counted), in one grouped query for all teams, projects or sites at once."""
    if field not in ("team", "project", "site"):
        raise ValueError(f"field must be team, project or site, not {field!r}")
    rows = (
        HourlyCodeCarbonFact.objects.filter(hour__gte=start, hour__lt=end)
        .annotate(measured=Exists(_agent_measured()))
        .filter(measured=False)
        .values(field)
        .annotate(**{name: Sum(name) for name in COUNTED_FIELDS})
        .order_by()
    )
    return {row[field]: {name: row[name] or 0.0 for name in COUNTED_FIELDS} for row in rows}


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
