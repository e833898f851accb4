"""Writes engineers make from the pages: projects, allocations, units of work, API tokens.

Views check role and team first (assessments.permissions); these functions do the writing.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from assessments.models import Allocation, ApiToken, Project, Team, WorkRecord
from greenai_site.tokens import new_token

PERSONAL_TOKEN_KIND = "gat"


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
        _mark_hours_dirty(host=host, start=start, end=end)
    return allocation


def allocation_delete(*, allocation: Allocation) -> None:
    with transaction.atomic():
        _mark_hours_dirty(host=allocation.host, start=allocation.start, end=allocation.end)
        allocation.delete()


def _mark_hours_dirty(*, host, start: datetime, end: datetime | None) -> None:
    """Attribution of hours already rolled up changes: have the rollup recompute them.

    Only hours whose raw samples are still kept: recomputing an hour whose samples retention
    has deleted would lose its facts.
    """
    from django.db.models.functions import TruncHour

    from collectors.models import DirtyHour, RawSample

    samples = RawSample.objects.filter(device__host=host, ts__gt=start)
    if end is not None:
        samples = samples.filter(ts__lte=end)
    hours = (
        samples.annotate(hour=TruncHour("ts"))
        .values_list("device_id", "hour")
        .distinct()
        .order_by()
    )
    DirtyHour.objects.bulk_create(
        [DirtyHour(device_id=device_id, hour=hour) for device_id, hour in hours],
        ignore_conflicts=True,
        batch_size=2000,
    )


def work_record_create(
    *,
    project: Project,
    period_start: datetime,
    period_end: datetime,
    units: float,
    note: str = "",
    created_by=None,
) -> WorkRecord:
    if period_end <= period_start:
        raise ValueError("A work record's period must end after it starts.")
    if units < 0:
        raise ValueError("Units of work cannot be negative.")
    return WorkRecord.objects.create(
        project=project,
        period_start=period_start,
        period_end=period_end,
        units=units,
        note=note,
        created_by=created_by,
    )


def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A personal read-API token; the clear token is returned once and never stored."""
    token = new_token(PERSONAL_TOKEN_KIND)
    api_token = ApiToken.objects.create(
        user=user, name=name, token_prefix=token.prefix, token_digest=token.digest
    )
    return api_token, token.token


def api_token_revoke(*, api_token: ApiToken) -> ApiToken:
    if api_token.revoked_at is None:
        api_token.revoked_at = timezone.now()
        api_token.save(update_fields=["revoked_at"])
    return api_token
