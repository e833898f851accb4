"""Writes of the assessments app: projects, allocations, work units, personal API tokens,
recomputing hourly facts.

Views check role and team first (assessments.permissions); these functions do the writing.
"""

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone

from assessments.api_auth import PERSONAL_TOKEN_KIND
from assessments.footprint.rollup import DEFAULT_BATCH_SIZE, RollupResult, rollup_dirty_hours
from assessments.models import (
    Allocation,
    ApiToken,
    AttributionRule,
    HourlyDeviceFact,
    Project,
    Team,
    WorkKind,
    WorkRecord,
    WorkSource,
)
from assessments.organisation import attribution, work_bounds
from collectors.models import Device, DirtyHour, Host, RawSample
from greenai_site.tokens import new_token

_UPSERT_CHUNK = 5000
_MICROSECOND = timedelta(microseconds=1)
_ZERO_OR_HOUR = (timedelta(0), timedelta(hours=1))


def project_create(
    *,
    slug: str,
    name: str,
    team: Team,
    phase: str,
    work_unit: str = "",
    work_kind: str = WorkKind.OTHER,
) -> Project:
    return Project.objects.create(
        slug=slug, name=name, team=team, phase=phase, work_unit=work_unit, work_kind=work_kind
    )


def project_update(*, project: Project, **fields) -> Project:
    allowed = {"slug", "name", "team", "phase", "work_unit", "work_kind"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"Cannot change {', '.join(sorted(unknown))} of a project.")
    for name, value in fields.items():
        setattr(project, name, value)
    project.save(update_fields=list(fields))
    return project


class CrossTeamOverlap(ValueError):
    """An allocation would share devices and time with another team's allocation."""


def hosts_of_teams(teams) -> QuerySet[Host]:
    """Hosts a team may allocate: those whose owning collector belongs to one of the teams
    (a host belongs to the collector that first registered it, docs/ingest.md)."""
    return Host.objects.filter(collector__team__in=teams)


def devices_overlap(a: list[int] | None, b: list[int] | None) -> bool:
    """Two allocations' device indexes (None: all the host's devices) share a device."""
    return a is None or b is None or bool(set(a) & set(b))


def allocation_cross_team_overlaps(
    *,
    project: Project,
    host,
    device_indexes: list[int] | None,
    start: datetime,
    end: datetime | None,
    exclude_pk: int | None = None,
) -> list[Allocation]:
    """Allocations of other teams' projects on the same devices of the host over an
    overlapping time: together they would split the devices' energy between teams."""
    others = (
        Allocation.objects.filter(host=host)
        .exclude(project__team_id=project.team_id)
        .filter(Q(end__isnull=True) | Q(end__gt=start))
        .select_related("project__team")
        .order_by("start", "pk")
    )
    if end is not None:
        others = others.filter(start__lt=end)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    return [a for a in others if devices_overlap(a.device_indexes, device_indexes)]


def cross_team_overlap_message(conflicts: list[Allocation]) -> str:
    shown = "; ".join(
        f"{a.project.slug} ({a.project.team.slug}) from {a.start:%Y-%m-%d}"
        + (f" to {a.end:%Y-%m-%d}" if a.end else ", open-ended")
        for a in conflicts[:5]
    )
    more = f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
    return (
        f"These devices are allocated to another team's project over the same time: {shown}"
        f"{more}. Only an admin may make overlapping allocations across teams."
    )


def allocation_create(
    *,
    project: Project,
    host,
    device_indexes: list[int] | None,
    start: datetime,
    end: datetime | None,
    allow_cross_team: bool = False,
) -> Allocation:
    """A project's use of some (indexes) or all (None) devices of a host over [start, end).

    Overlapping another team's allocation of the same devices raises CrossTeamOverlap unless
    allow_cross_team (an admin's choice: the callers check who asks).
    """
    if end is not None and end <= start:
        raise ValueError("An allocation must end after it starts.")
    with transaction.atomic():
        if not allow_cross_team:
            # The host's row lock serialises two teams allocating the same host at once.
            Host.objects.select_for_update().get(pk=host.pk)
            conflicts = allocation_cross_team_overlaps(
                project=project, host=host, device_indexes=device_indexes, start=start, end=end
            )
            if conflicts:
                raise CrossTeamOverlap(cross_team_overlap_message(conflicts))
        allocation = Allocation.objects.create(
            project=project, host=host, device_indexes=device_indexes, start=start, end=end
        )
        allocation_hours_mark(host=host, start=start, end=end)
    return allocation


def allocation_delete(*, allocation: Allocation) -> None:
    with transaction.atomic():
        allocation_hours_mark(host=allocation.host, start=allocation.start, end=allocation.end)
        allocation.delete()


def allocation_hours_mark(*, host, start: datetime, end: datetime | None) -> None:
    """Attribution of hours already rolled up changes: the rollup recomputes them with the
    factors stored with their facts (an allocation changes who used the energy, not its carbon).
    """
    first, last = _hour_bounds(start, end or timezone.now() + timedelta(hours=1))
    _mark(_device_hours(first, last, host.devices.all()), refresh_factors=False)


def attribution_rule_save(*, rule: AttributionRule) -> AttributionRule:
    """Store a rule after checking its match patterns; its hours are then recomputed."""
    problem = attribution.rule_problem(rule.match)
    if problem:
        raise ValueError(problem)
    with transaction.atomic():
        rule.save()
        job_hours_mark()
    return rule


def attribution_rule_delete(*, rule: AttributionRule) -> None:
    with transaction.atomic():
        rule.delete()
        job_hours_mark()


def job_hours_mark() -> int:
    """Rules changed: recompute the hours whose raw samples name jobs.

    Only hours inside the raw-sample retention can be re-attributed (older hours keep their
    facts, their samples being gone), so the marks stop there. Returns the device-hours marked.
    """
    cutoff = timezone.now() - timedelta(days=settings.RAW_SAMPLE_RETENTION_DAYS)
    end_hours = (
        RawSample.objects.filter(ts__gt=cutoff, jobs__isnull=False)
        .annotate(
            end_hour=TruncHour(
                ExpressionWrapper(F("ts") - _MICROSECOND, output_field=DateTimeField())
            )
        )
        .values_list("device_id", "end_hour")
        .distinct()
    )
    # A sample's interval may start in the hour before the one it ends in.
    pairs = {
        (device_id, hour - offset) for device_id, hour in end_hours for offset in _ZERO_OR_HOUR
    }
    return _mark(pairs, refresh_factors=False)


class WorkRecordError(ValueError):
    """A work record that cannot be stored; the message names the field."""


def work_record_create(
    *,
    project: Project,
    units: float,
    start: datetime,
    end: datetime | None = None,
    created_by=None,
    note: str = "",
    kind: str | None = None,
) -> WorkRecord:
    """Units of useful work posted by hand over [start, end) (end None or equal: one
    instant); kind defaults to the kind of the project's declared unit."""
    kind = kind or project.work_kind
    if kind not in WorkKind.values:
        raise WorkRecordError(f"kind: must be one of {', '.join(WorkKind.values)}, got {kind!r}")
    if isinstance(units, bool) or not isinstance(units, int | float) or not math.isfinite(units):
        raise WorkRecordError("units: must be a finite number")
    if units <= 0:
        raise WorkRecordError(f"units: must be > 0, got {units:g}")
    if timezone.is_naive(start) or (end is not None and timezone.is_naive(end)):
        raise WorkRecordError("start/end: must carry a time zone (e.g. 2026-11-28T06:00:00Z)")
    end = end or start
    if end < start:
        raise WorkRecordError("end: must not be before start")
    problem = work_bounds.units_problem(units)
    if problem:
        raise WorkRecordError(f"units: {problem}")
    bad_period = work_bounds.period_problem(start, end, now=timezone.now())
    if bad_period:
        raise WorkRecordError(f"{bad_period[0]}: {bad_period[1]}")
    return WorkRecord.objects.create(
        project=project,
        period_start=start,
        period_end=end,
        units=float(units),
        kind=kind,
        source=WorkSource.POSTED,
        note=note[:300],
        created_by=created_by if created_by and created_by.is_authenticated else None,
    )


def api_token_create(
    *, user, name: str = "api", scope: str = ApiToken.Scope.READ
) -> tuple[ApiToken, str]:
    """A personal API token (read, or read and record work); the clear token is returned once
    and never stored."""
    if scope not in ApiToken.Scope.values:
        raise ValueError(f"scope: must be one of {', '.join(ApiToken.Scope.values)}, got {scope!r}")
    token = new_token(PERSONAL_TOKEN_KIND)
    api_token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        token_prefix=token.prefix,
        token_digest=token.digest,
        scope=scope,
    )
    return api_token, token.token


def api_token_revoke(*, api_token: ApiToken) -> None:
    if api_token.revoked_at is None:
        api_token.revoked_at = timezone.now()
        api_token.save(update_fields=["revoked_at"])


# --- Recomputing facts ----------------------------------------------------------------------


def _device_hours(start: datetime, end: datetime, devices=None) -> set[tuple[int, datetime]]:
    """(device, hour) pairs in [start, end) that have a fact or raw samples."""
    facts = HourlyDeviceFact.objects.filter(hour__gte=start, hour__lt=end)
    # An interval [ts - duration, ts) ends in the hour of ts - 1 us and, being at most an hour
    # long, may start in the hour before: both are candidates (an hour without samples is
    # simply skipped by the rollup).
    samples = RawSample.objects.filter(ts__gt=start, ts__lte=end + timedelta(hours=1))
    if devices is not None:
        facts = facts.filter(device__in=devices)
        samples = samples.filter(device__in=devices)
    pairs = set(facts.values_list("device_id", "hour"))
    end_hours = (
        samples.annotate(
            end_hour=TruncHour(
                ExpressionWrapper(F("ts") - _MICROSECOND, output_field=DateTimeField())
            )
        )
        .values_list("device_id", "end_hour")
        .distinct()
    )
    for device_id, hour in end_hours:
        for candidate in (hour, hour - timedelta(hours=1)):
            if start <= candidate < end:
                pairs.add((device_id, candidate))
    return pairs


def _mark(pairs, *, refresh_factors: bool) -> int:
    """Append recompute marks (no batch: the rollup recomputes these hours from all samples)."""
    now = timezone.now()
    rows = [
        DirtyHour(device_id=device_id, hour=hour, marked_at=now, refresh_factors=refresh_factors)
        for device_id, hour in sorted(pairs, key=lambda p: (p[1], p[0]))
    ]
    DirtyHour.objects.bulk_create(rows, batch_size=_UPSERT_CHUNK)
    return len(rows)


def _hour_bounds(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise ValueError("start and end must carry a time zone")
    if end <= start:
        raise ValueError("end must be after start")
    first = start.replace(minute=0, second=0, microsecond=0)
    last = end.replace(minute=0, second=0, microsecond=0)
    if last < end:
        last += timedelta(hours=1)
    return first, last


def zone_hours_mark(
    *, zone_code: str, start: datetime, end: datetime, refresh_factors: bool = True
) -> int:
    """Mark the device-hours of sites in a grid zone for recompute (after a grid import).

    The flag refresh_factors (default on) makes the rollup use the current factors, including
    the newly imported hourly intensities, instead of those stored with the facts.
    Returns the number of device-hours marked.
    """
    first, last = _hour_bounds(start, end)
    devices = Device.objects.filter(host__site__grid_zone=zone_code)
    return _mark(_device_hours(first, last, devices), refresh_factors=refresh_factors)


def facts_recompute(
    *,
    start: datetime,
    end: datetime,
    refresh_factors: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> tuple[int, RollupResult]:
    """Recompute every device-hour in [start, end) now; (hours marked, rollup result).

    Without refresh_factors an hour keeps the factors stored with its fact (a past month gives
    the same numbers after factors change); with it, current factors are used.
    """
    first, last = _hour_bounds(start, end)
    marked = _mark(_device_hours(first, last), refresh_factors=refresh_factors)
    return marked, rollup_dirty_hours(batch_size=batch_size)
