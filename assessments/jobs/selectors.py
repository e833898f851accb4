"""Energy per job and per user: reads of the hourly job facts the rollup writes.

A job is a Slurm job (its id) or a Kubernetes pod (namespace/pod), as the agents report it
(docs/architecture.md, "Fleet telemetry"); its figures are its share of its devices' hours,
priced with the same factors as the device facts (assessments.footprint.rollup).
"""

from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, F, Max, Min, Q, Sum

from assessments.models import MEASURE_FIELDS, HourlyJobFact, VersionProject

HOUR = timedelta(hours=1)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _facts(
    *,
    start: date,
    end: date,
    project=None,
    team=None,
    user: str | None = None,
    namespace: str | None = None,
    versions=None,
):
    facts = HourlyJobFact.objects.filter(hour__gte=_midnight(start), hour__lt=_midnight(end))
    if versions is not None:
        facts = facts.filter(_in_version_windows(versions))
    if project is not None:
        facts = facts.filter(project=project)
    if team is not None:
        facts = facts.filter(team=team)
    if user:
        facts = facts.filter(user=user)
    if namespace:
        facts = facts.filter(namespace=namespace)
    return facts


def _in_version_windows(versions) -> Q:
    """Job hours on a project that produced or served one of the versions, within that window.

    Job facts carry no engine model_name: on a project serving several versions at once, a
    job's hours count for each of them."""
    condition = Q(pk__in=[])
    for window in VersionProject.objects.filter(version__in=versions):
        hours = Q(project_id=window.project_id, hour__gte=window.start)
        if window.end is not None:
            hours &= Q(hour__lt=window.end)
        condition |= hours
    return condition


def _sums() -> dict:
    return {name: Sum(name) for name in MEASURE_FIELDS}


def _with_total(row: dict) -> dict:
    for name in MEASURE_FIELDS:
        row[name] = row[name] or 0.0
    row["total_kgco2e"] = row["operational_kgco2e"] + row["embodied_kgco2e"]
    return row


def jobs_list(
    *,
    start: date,
    end: date,
    project=None,
    team=None,
    user: str | None = None,
    namespace: str | None = None,
    versions=None,
    limit: int | None = None,
) -> list[dict]:
    """Jobs that used devices in [start, end), largest IT energy first; with versions (of AI
    systems), only their hours on those versions' producing and serving projects' windows."""
    rows = (
        _facts(
            start=start,
            end=end,
            project=project,
            team=team,
            user=user,
            namespace=namespace,
            versions=versions,
        )
        .values("job_key", "job_id", "user", "account", "namespace", "pod")
        .annotate(
            project_slug=Max("project__slug"),
            first_hour=Min("hour"),
            last_hour=Max("hour"),
            devices=Count("device", distinct=True),
            **_sums(),
        )
        .order_by("-energy_it_kwh", "job_key")
    )
    if limit is not None:
        rows = rows[:limit]
    result = []
    for row in rows:
        row = _with_total(dict(row))
        row["first_seen"] = row.pop("first_hour")
        row["last_seen"] = row.pop("last_hour") + HOUR
        result.append(row)
    return result


def users_list(*, start: date, end: date, project=None, team=None) -> list[dict]:
    """Users whose jobs used devices in [start, end), largest IT energy first."""
    rows = (
        _facts(start=start, end=end, project=project, team=team)
        .exclude(user="")
        .values(label=F("user"))
        .annotate(jobs=Count("job_key", distinct=True), **_sums())
        .order_by("-energy_it_kwh", "label")
    )
    return [_with_total(dict(row)) for row in rows]
