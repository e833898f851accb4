"""Writes of the assessments app: projects, allocations, work units, personal API tokens,
recomputing hourly facts.

Views check role and team first (assessments.permissions); these functions do the writing.
"""

import math
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F
from django.db.models.functions import TruncHour
from django.utils import timezone

from assessments.api_auth import PERSONAL_TOKEN_KIND
from assessments.footprint.rollup import DEFAULT_BATCH_SIZE, RollupResult, rollup_dirty_hours
from assessments.models import Allocation, ApiToken, HourlyDeviceFact, Project, Team, WorkRecord
from collectors.models import Device, DirtyHour, RawSample
from greenai_site.tokens import new_token

_UPSERT_CHUNK = 5000
_MICROSECOND = timedelta(microseconds=1)


def project_create(*, slug: str, name: str, team: Team, phase: str, work_unit: str = "") -> Project:
    return Project.objects.create(slug=slug, name=name, team=team, phase=phase, work_unit=work_unit)


def project_update(*, project: Project, **fields) -> Project:
    allowed = {"slug", "name", "team", "phase", "work_unit"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"Cannot change {', '.join(sorted(unknown))} of a project.")
    for name, value in fields.items():
        setattr(project, name, value)
    project.save(update_fields=list(fields))
    return project


def allocation_create(
    *,
    project: Project,
    host,
    device_indexes: list[int] | None,
    start: datetime,
    end: datetime | None,
) -> Allocation:
    """A project's use of some (indexes) or all (None) devices of a host over [start, end)."""
    if end is not None and end <= start:
        raise ValueError("An allocation must end after it starts.")
    with transaction.atomic():
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
) -> WorkRecord:
    """Units of useful work over [start, end) (end None or equal: one instant)."""
    if isinstance(units, bool) or not isinstance(units, int | float) or not math.isfinite(units):
        raise WorkRecordError("units: must be a finite number")
    if units <= 0:
        raise WorkRecordError(f"units: must be > 0, got {units:g}")
    if timezone.is_naive(start) or (end is not None and timezone.is_naive(end)):
        raise WorkRecordError("start/end: must carry a time zone (e.g. 2026-11-28T06:00:00Z)")
    end = end or start
    if end < start:
        raise WorkRecordError("end: must not be before start")
    return WorkRecord.objects.create(
        project=project,
        period_start=start,
        period_end=end,
        units=float(units),
        note=note[:300],
        created_by=created_by if created_by and created_by.is_authenticated else None,
    )


def api_token_create(*, user, name: str = "api") -> tuple[ApiToken, str]:
    """A personal read-API token; the clear token is returned once and never stored."""
    token = new_token(PERSONAL_TOKEN_KIND)
    api_token = ApiToken.objects.create(
        user=user, name=name[:100], token_prefix=token.prefix, token_digest=token.digest
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


def mark_hours_for_recompute(
    zone_code: str, start: datetime, end: datetime, *, refresh_factors: bool = True
) -> int:
    """Mark the device-hours of sites in a grid zone for recompute (after a grid import).

    The flag refresh_factors (default on) makes the rollup use the current factors, including
    the newly imported hourly intensities, instead of those stored with the facts.
    Returns the number of device-hours marked.
    """
    first, last = _hour_bounds(start, end)
    devices = Device.objects.filter(host__site__grid_zone=zone_code)
    return _mark(_device_hours(first, last, devices), refresh_factors=refresh_factors)


def recompute_facts(
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
