"""Writes of the collectors app: collectors and their tokens, ingest, refusals, retention.

batch_ingest() is the one way samples enter the database (the HTTP API and the demo seeder both
call it). It validates the whole batch before writing anything, then writes it in one
transaction: host and devices, the batch record (its unique batch_id makes a resend harmless),
the samples (unique per device and ts, so a re-sent sample is stored once) and the dirty hours
the rollup recomputes.
"""

import json
import logging
import uuid
import weakref
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from pydantic import ValidationError

from assessments.models import AttributionRule, Project, WorkRecord, WorkSource
from assessments.organisation import attribution
from collectors import partitions
from collectors.intervals import hours_touched
from collectors.models import (
    Collector,
    Device,
    DirtyHour,
    Host,
    IngestBatch,
    IngestRejection,
    RawSample,
)
from collectors.schemas import (
    EARLIEST_TS,
    MAX_SAMPLES,
    DeviceIn,
    IngestPayload,
    WorkIn,
    error_details,
    escape_control,
)
from collectors.selectors import COLLECTOR_TOKEN_KIND
from greenai_site.tokens import new_token

logger = logging.getLogger(__name__)

# last_seen_at has minute precision: a batch moves it forward only when the stored value is
# older than this, so an agent pushing every 10 s writes its collector, host and device rows
# once a minute, not on every batch.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


# --- Errors ---------------------------------------------------------------------------------


class IngestError(Exception):
    """A refused batch: nothing of it was stored. Carries the HTTP answer the API gives."""

    status = 400
    reason = "invalid"

    def __init__(self, error: str, details: list[dict] | None = None):
        super().__init__(error)
        self.error = error
        self.details = details or []

    def __str__(self):
        lines = [self.error] + [f"{d['field']}: {d['message']}" for d in self.details]
        return "\n".join(lines)


class IngestValidationError(IngestError):
    status = 400
    reason = "invalid"


class IngestJsonError(IngestValidationError):
    reason = "invalid_json"


class DeviceOwnedElsewhere(IngestError):
    status = 403
    reason = "device_owned_elsewhere"


class HostOwnedElsewhere(IngestError):
    status = 403
    reason = "host_owned_elsewhere"


class BatchTooLarge(IngestError):
    status = 413
    reason = "too_many_samples"


@dataclass(frozen=True)
class IngestResult:
    batch_id: uuid.UUID
    accepted: int  # samples stored by this call
    duplicate: bool  # the batch_id was already stored: nothing written
    sample_count: int = 0  # samples in the batch
    foreign_tags: int = 0  # tags dropped because they named another team's project
    work_accepted: int = 0  # measured work records stored by this call
    work_unattributed: float = 0.0  # units of measured work that no tag or rule gave a project
    work_count: int = 0  # work items in the batch


# --- Collectors -----------------------------------------------------------------------------


def collector_create(
    *, name: str, team=None, created_by=None, allow_backfill: bool = False
) -> tuple[Collector, str]:
    """A new collector and its token. The token is returned once; only its digest is kept.

    team None: an organisation-wide collector (its tags may name any team's project).
    allow_backfill: its samples may be older than the raw-sample retention (not before 2000).
    """
    name = name.strip()
    if not name:
        raise ValueError("A collector needs a name.")
    if Collector.objects.filter(name=name).exists():
        raise ValueError(f"A collector named {name!r} already exists.")
    token = new_token(COLLECTOR_TOKEN_KIND)
    collector = Collector.objects.create(
        name=name,
        team=team,
        created_by=created_by,
        allow_backfill=allow_backfill,
        token_prefix=token.prefix,
        token_digest=token.digest,
    )
    return collector, token.token


def collector_revoke(*, collector: Collector) -> Collector:
    """Refuse the collector's token from now on (idempotent). Its data stays."""
    if collector.revoked_at is None:
        collector.revoked_at = timezone.now()
        collector.save(update_fields=["revoked_at"])
    return collector


def collector_backfill_set(*, collector: Collector, allow: bool) -> Collector:
    """Grant or withdraw the back-fill permission (admins: the callers check)."""
    if collector.allow_backfill != allow:
        collector.allow_backfill = allow
        collector.save(update_fields=["allow_backfill"])
    return collector


def ingest_rejection_record(
    *, collector: Collector | None, status: int, reason: str, message: str
) -> IngestRejection:
    # The message quotes what the client sent: PostgreSQL text cannot hold a NUL.
    return IngestRejection.objects.create(
        collector=collector,
        status=status,
        reason=reason[:50],
        message="\n".join(escape_control(line) for line in message[:4000].split("\n")),
    )


def ingest_rejections_delete_old(*, now: datetime | None = None, retention_days=None) -> int:
    """Delete refusal records older than INGEST_REJECTION_RETENTION_DAYS; how many went."""
    now = now or timezone.now()
    days = (
        retention_days if retention_days is not None else settings.INGEST_REJECTION_RETENTION_DAYS
    )
    deleted, _ = IngestRejection.objects.filter(at__lt=now - timedelta(days=days)).delete()
    return deleted


# --- Ingest ---------------------------------------------------------------------------------


def ingest_validate(
    payload: dict | bytes | str,
    *,
    now: datetime | None = None,
    earliest: datetime | None = None,
) -> IngestPayload:
    """The parsed batch (from a dict or JSON text), or IngestValidationError naming every bad
    field (BatchTooLarge over MAX_SAMPLES samples). JSON text is parsed and validated in one pass
    by pydantic (faster than json.loads).

    earliest: the oldest sample end accepted; by default the raw-sample retention window.
    """
    now = now or timezone.now()
    if earliest is None:
        earliest = now - timedelta(days=settings.RAW_SAMPLE_RETENTION_DAYS)
    context = {"now": now, "earliest": earliest}
    try:
        if isinstance(payload, bytes | str):
            return IngestPayload.model_validate_json(payload, context=context)
        return IngestPayload.model_validate(payload, context=context)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise IngestJsonError(f"The body is not valid JSON: {first['msg']}") from None
        if first["type"] == "model_type" and not first["loc"]:
            raise IngestValidationError(
                "The body must be a JSON object.",
                [{"field": "body", "message": f"got {type(first['input']).__name__}"}],
            ) from None
        for error in exc.errors(include_url=False):
            if error["type"] == "too_long" and tuple(error["loc"]) == ("samples",):
                count = error["ctx"]["actual_length"]
                raise BatchTooLarge(
                    f"The batch has {count} samples; the maximum is {MAX_SAMPLES}."
                    " Send them in several batches.",
                    [{"field": "samples", "message": f"{count} items, at most {MAX_SAMPLES}"}],
                ) from None
        details = error_details(exc)
        raise IngestValidationError(
            f"The batch has {len(details)} invalid field(s); nothing was stored.", details
        ) from None


def batch_ingest(
    *, collector: Collector, payload: dict | bytes | str, now: datetime | None = None
) -> IngestResult:
    """Validate and store one batch (a dict, or its JSON text) for this collector.

    Raises IngestValidationError (400), BatchTooLarge (413), HostOwnedElsewhere or
    DeviceOwnedElsewhere (403); then nothing is stored.
    """
    now = now or timezone.now()
    batch = ingest_validate(payload, now=now, earliest=ingest_earliest(collector, now))
    if IngestBatch.objects.filter(batch_id=batch.batch_id).exists():
        return IngestResult(batch.batch_id, 0, True, len(batch.samples))
    # Host and devices are read once, here; the transaction reuses what was read.
    host = _check_host(collector, batch)
    devices = _check_devices(
        collector, batch, Device.objects.filter(uuid__in=_referenced_uuids(batch))
    )
    foreign_tags = _foreign_tags_drop(collector, batch)
    # PostgreSQL: the days' partitions, before the transaction (usually made ahead already).
    partitions.ensure_partitions_for(sample.ts for sample in batch.samples)
    if connection.vendor == "postgresql":
        _staging_table_create()
    try:
        with transaction.atomic():
            result, host, devices = _store(collector, batch, now, host, devices)
    except _Duplicate:
        return IngestResult(batch.batch_id, 0, True, len(batch.samples))
    _last_seen_touch(collector, host, devices, now)
    if foreign_tags:
        _foreign_tags_count(collector.pk, foreign_tags, now)
        result = replace(result, foreign_tags=foreign_tags)
    return result


def ingest_earliest(collector: Collector, now: datetime) -> datetime:
    """The oldest sample end this collector may send: the raw-sample retention window, or
    2000-01-01 for a collector with the back-fill permission."""
    if collector.allow_backfill:
        return EARLIEST_TS
    return now - timedelta(days=settings.RAW_SAMPLE_RETENTION_DAYS)


# --- Ownership: hosts, devices and the projects a collector's tags may name ------------------


def tag_allowed(collector_team_id: int | None, project_team_id: int | None) -> bool:
    """The one rule for process tags: a collector of a team may charge only that team's
    projects (an unknown project counts as another team's); an organisation-wide collector (no
    team) may charge any project."""
    return collector_team_id is None or project_team_id == collector_team_id


def _foreign_tags_drop(collector: Collector, batch: IngestPayload) -> int:
    """Remove from the batch the tags its collector may not charge; how many were removed.

    The sample is then stored as if untagged there: that share goes to the device's
    allocations, else unallocated, and never to the named project.
    """
    if collector.team_id is None:
        return 0
    tagged = [*batch.samples, *batch.work]
    slugs = {tag.project for item in tagged for tag in item.tags or ()}
    if not slugs:
        return 0
    teams = dict(Project.objects.filter(slug__in=slugs).values_list("slug", "team_id"))
    refused = {slug for slug in slugs if not tag_allowed(collector.team_id, teams.get(slug))}
    if not refused:
        return 0
    dropped = 0
    for item in tagged:
        if item.tags and any(tag.project in refused for tag in item.tags):
            kept = [tag for tag in item.tags if tag.project not in refused]
            dropped += len(item.tags) - len(kept)
            item.tags = kept or None
    return dropped


def _foreign_tags_count(collector_id: int, count: int, now: datetime) -> None:
    Collector.objects.filter(pk=collector_id).update(
        foreign_tags=F("foreign_tags") + count, foreign_tag_last_at=now
    )


def _owned_by_other_active(thing: Host | Device, collector: Collector) -> bool:
    # A revoked collector's hosts and devices may be taken over: that is how a leaked token is
    # replaced. Unowned ones (made by the inventory) go to the first collector that reports them.
    owner = thing.collector
    return owner is not None and owner.pk != collector.pk and owner.revoked_at is None


def _check_host(collector: Collector, batch: IngestPayload) -> Host | None:
    """The batch's host if it exists (with its collector); refuse a hostname another active
    collector registered (403)."""
    host = Host.objects.select_related("collector").filter(hostname=batch.host.hostname).first()
    if host is not None and _owned_by_other_active(host, collector):
        _host_refuse(batch)
    return host


def _host_refuse(batch: IngestPayload):
    raise HostOwnedElsewhere(
        f"Host {batch.host.hostname!r} is registered to another collector; an admin can hand"
        " it over (manage.py handoverhost).",
        [{"field": "host.hostname", "message": "owned by another collector"}],
    )


def host_hand_over(*, host: Host, collector: Collector | None) -> Host:
    """Give a host and its devices to another collector (None: unowned, the next collector
    that reports it takes it). Admins only: the views and commands that call this check."""
    with transaction.atomic():
        Host.objects.filter(pk=host.pk).update(collector=collector)
        Device.objects.filter(host=host).update(collector=collector)
    host.collector = collector
    return host


class _Duplicate(Exception):
    pass


def _referenced_uuids(batch: IngestPayload) -> set[str]:
    return {device.uuid for device in batch.devices} | {sample.device for sample in batch.samples}


def _check_devices(collector: Collector, batch: IngestPayload, existing_qs) -> dict[str, Device]:
    """Refuse devices of another collector (403) and samples of unknown devices (400)."""
    existing = {device.uuid: device for device in existing_qs.select_related("collector")}
    stolen = sorted(
        uuid_ for uuid_, device in existing.items() if _owned_by_other_active(device, collector)
    )
    if stolen:
        raise DeviceOwnedElsewhere(
            "These devices are registered to another collector: " + ", ".join(stolen) + ".",
            [
                {"field": _device_field(batch, uuid_), "message": "owned by another collector"}
                for uuid_ in stolen
            ],
        )
    declared = {device.uuid for device in batch.devices}
    owned = {uuid_ for uuid_, device in existing.items() if device.collector_id == collector.pk}
    known = declared | owned
    details = [
        {
            "field": f"samples[{position}].device",
            "message": f"device {sample.device!r} is not declared in this batch's devices"
            " and not registered to this collector",
        }
        for position, sample in enumerate(batch.samples)
        if sample.device not in known
    ]
    if details:
        raise IngestValidationError(
            f"The batch has {len(details)} sample(s) of undeclared devices; nothing was stored.",
            details,
        )
    return existing


def _device_field(batch: IngestPayload, device_uuid: str) -> str:
    for position, device in enumerate(batch.devices):
        if device.uuid == device_uuid:
            return f"devices[{position}].uuid"
    for position, sample in enumerate(batch.samples):
        if sample.device == device_uuid:
            return f"samples[{position}].device"
    return "devices"


def _store(
    collector: Collector,
    batch: IngestPayload,
    now: datetime,
    known_host: Host | None,
    known_devices: dict[str, Device],
) -> tuple[IngestResult, Host, dict[str, Device]]:
    """The transaction's writes; last-seen times are left to _last_seen_touch.

    known_host, known_devices: what the ownership checks read before the transaction.
    """
    host = _host_upsert(collector, batch, now, known_host)
    try:
        # No savepoint of its own: _Duplicate leaves the transaction, which rolls back whole
        # (the host's writes too). On PostgreSQL a second copy waits here until the first
        # commits, then fails.
        record = IngestBatch.objects.create(
            batch_id=batch.batch_id,
            collector=collector,
            host=host,
            received_at=now,
            sample_count=len(batch.samples),
        )
    except IntegrityError:
        raise _Duplicate() from None
    devices = _devices_upsert(collector, host, batch, now, known_devices)
    device_ids = {uuid_: device.pk for uuid_, device in devices.items()}
    tags_json = _TagsJson()
    by_key = {}
    for sample in batch.samples:
        key = (device_ids[sample.device], sample.ts)
        if key not in by_key:  # a sample repeated within the batch: the first one counts
            by_key[key] = (
                *key,
                sample.duration_s,
                sample.energy_j,
                sample.power_w,
                sample.util_pct,
                sample.mem_used_mib,
                tags_json(sample.tags),
                _jobs_json(sample.job),
            )
    rows = list(by_key.values())
    if not rows:
        accepted = 0  # stored_count's default
    elif connection.vendor == "postgresql":
        accepted = _samples_insert_postgres(rows, record.pk, now)  # sets stored_count too
    else:
        accepted = _samples_insert_generic(rows, record.pk, now)
        IngestBatch.objects.filter(pk=record.pk).update(stored_count=accepted)
    work_accepted, unattributed = _work_store(batch.work) if batch.work else (0, 0.0)
    result = IngestResult(
        batch.batch_id,
        accepted,
        False,
        len(batch.samples),
        work_accepted=work_accepted,
        work_unattributed=unattributed,
        work_count=len(batch.work),
    )
    return result, host, devices


def _work_store(work: list[WorkIn]) -> tuple[int, float]:
    """Store measured work as WorkRecords of the projects it is attributed to: (records stored,
    units no project took).

    The rules of energy (docs/ingest.md, "Measured work"): a tag naming a project wins (tags of
    another team's project were dropped before); otherwise the attribution rules map the jobs
    (pods). Units split by the shares; a share no tag or rule takes stays unattributed. An
    interval crossing an hour splits pro rata, so each record lies within one hour. A record
    already stored (the same pod, model, kind and end) is stored once.
    """
    rules = [
        attribution.Rule(rule.position, rule.match, rule.project.slug, rule.phase)
        for rule in AttributionRule.objects.select_related("project").order_by("position")
    ]
    parts = []
    unattributed = 0.0
    for item in work:
        jobs = [
            job.model_dump(exclude_defaults=True) | {"share": job.share} for job in item.job or ()
        ]
        if item.tags:
            job = "+".join(sorted({attribution.job_key(j) for j in jobs})) if jobs else ""
            tags = [{"project": tag.project, "share": tag.share, "job": job} for tag in item.tags]
        else:
            tags = attribution.tags_for_jobs(jobs, rules) or []
        taken = 0.0
        for tag in tags:
            parts.append((item, tag["project"], tag["share"], tag.get("job", "")[:300]))
            taken += tag["share"]
        unattributed += item.units * max(0.0, 1.0 - taken)
    projects = dict(
        Project.objects.filter(slug__in={slug for _, slug, _, _ in parts}).values_list("slug", "pk")
    )
    records = {}
    for item, slug, share, job in parts:
        if slug not in projects:
            unattributed += item.units * share
            continue
        for start, end, units in _hour_pieces(item.ts, item.duration_s, item.units * share):
            key = (projects[slug], item.kind, item.model_name, job, end)
            if key not in records:  # repeated within the batch: the first one counts
                records[key] = WorkRecord(
                    project_id=key[0],
                    kind=item.kind,
                    source=WorkSource.MEASURED,
                    model_name=item.model_name,
                    job=job,
                    period_start=start,
                    period_end=end,
                    units=units,
                )
    if not records:
        return 0, unattributed
    mine = WorkRecord.objects.filter(
        source=WorkSource.MEASURED,
        project_id__in={key[0] for key in records},
        period_end__in={key[4] for key in records},
    )
    before = mine.count()
    WorkRecord.objects.bulk_create(records.values(), ignore_conflicts=True)
    stored = mine.count() - before
    return stored, unattributed


def _hour_pieces(ts: datetime, duration_s: float, units: float):
    """(start, end, units) of [ts - duration_s, ts) cut at clock hours, units pro rata."""
    start = ts - timedelta(seconds=duration_s)
    pieces = []
    for hour in hours_touched(ts, duration_s):
        lo, hi = max(start, hour), min(ts, hour + timedelta(hours=1))
        if hi > lo:
            pieces.append((lo, hi, units * (hi - lo).total_seconds() / duration_s))
    return pieces


def _last_seen_stale(moment: datetime | None, now: datetime) -> bool:
    return moment is None or moment < now - LAST_SEEN_RESOLUTION


def _last_seen_touch(
    collector: Collector, host: Host, devices: dict[str, Device], now: datetime
) -> None:
    """Move last_seen_at forward, after the batch's transaction, to LAST_SEEN_RESOLUTION.

    Only rows whose value (as read for this batch) is older than the resolution are written, so
    most batches write nothing here. Not inside the transaction: every batch of a collector (a
    DaemonSet shares one token across hosts) would lock the same collector row until its commit,
    so concurrent batches would queue behind each other. Here each UPDATE locks its rows only
    for its own statement, and its condition keeps a concurrent batch from writing them again.
    """
    stale = Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - LAST_SEEN_RESOLUTION)
    if _last_seen_stale(collector.last_seen_at, now):
        Collector.objects.filter(stale, pk=collector.pk).update(last_seen_at=now)
        collector.last_seen_at = now  # a long-lived caller's object (the seeder's) stays current
    if _last_seen_stale(host.last_seen_at, now):
        Host.objects.filter(stale, pk=host.pk).update(last_seen_at=now)
    device_ids = [
        device.pk for device in devices.values() if _last_seen_stale(device.last_seen_at, now)
    ]
    if device_ids:
        Device.objects.filter(stale, pk__in=device_ids).update(last_seen_at=now)


def _jobs_json(jobs) -> str | None:
    if not jobs:
        return None
    return json.dumps(
        [job.model_dump(exclude_defaults=True) | {"share": job.share} for job in jobs]
    )


class _TagsJson:
    """Tags as JSON text, encoded once per distinct tag list (a batch repeats a few lists)."""

    def __init__(self):
        self._known: dict[tuple, str] = {}

    def __call__(self, tags) -> str | None:
        if not tags:
            return None
        key = tuple((tag.project, tag.phase, tag.share) for tag in tags)
        text = self._known.get(key)
        if text is None:
            text = json.dumps([tag.model_dump(exclude_none=True) for tag in tags])
            self._known[key] = text
        return text


def _host_upsert(
    collector: Collector, batch: IngestPayload, now: datetime, known: Host | None
) -> Host:
    """The batch's host: registered on first sight, claimed if unowned or its owner is revoked.

    known: the host as read before the transaction. Already this collector's, it is reused;
    otherwise it is read again here, so that of two collectors registering (or claiming) the
    same host at once, the one that comes second is refused.
    """
    if known is not None and known.collector_id == collector.pk:
        _host_refresh(known, batch, now)
        return known
    host, created = Host.objects.select_related("collector").get_or_create(
        hostname=batch.host.hostname,
        defaults={
            "collector": collector,
            "agent_version": batch.host.agent_version,
            "first_seen_at": now,
            "last_seen_at": now,
        },
    )
    if not created:
        if _owned_by_other_active(host, collector):  # registered meanwhile by another one
            _host_refuse(batch)
        # Unclaimed (made by the inventory) or its owner revoked: this collector takes it.
        claim = host.collector is None or host.collector.revoked_at is not None
        _host_refresh(host, batch, now, claimed_by=collector if claim else None)
    return host


def _host_refresh(
    host: Host, batch: IngestPayload, now: datetime, claimed_by: Collector | None = None
) -> None:
    """Write what changed (agent version, first sight, the owner when claimed_by is given).
    Most batches change nothing here and lock nothing."""
    changes = {}
    if batch.host.agent_version and batch.host.agent_version != host.agent_version:
        changes["agent_version"] = batch.host.agent_version
    if claimed_by is not None:
        changes["collector"] = claimed_by
    if host.first_seen_at is None:  # hosts the inventory created before the agent ran
        changes["first_seen_at"] = now
    if changes:
        Host.objects.filter(pk=host.pk).update(**changes)


_DEVICE_ATTRIBUTES = (
    "kind",
    "index",
    "name",
    "power_limit_w",
    "is_mig",
    "parent_uuid",
    "source",
)


def _device_attributes(declared: DeviceIn, *, only_given: bool = False) -> dict:
    """The device's attributes from its declaration; only_given: those the agent sent, so that
    an omitted power limit or name never wipes a known one."""
    return {
        name: getattr(declared, name)
        for name in _DEVICE_ATTRIBUTES
        if not only_given or name in declared.model_fields_set
    }


def _devices_upsert(
    collector: Collector,
    host: Host,
    batch: IngestPayload,
    now: datetime,
    existing: dict[str, Device],
) -> dict[str, Device]:
    """Register declared devices on first sight, refresh their attributes; uuid -> device.

    existing: the batch's devices as _check_devices read them before the transaction; read
    again only when new ones were registered.
    """
    new_devices = [
        Device(
            uuid=declared.uuid,
            host=host,
            collector=collector,
            first_seen_at=now,
            last_seen_at=now,
            **_device_attributes(declared),
        )
        for declared in batch.devices
        if declared.uuid not in existing
    ]
    if new_devices:
        # ignore_conflicts: a concurrent batch may register the same device; re-read below.
        Device.objects.bulk_create(new_devices, ignore_conflicts=True)
        existing_qs = Device.objects.filter(uuid__in=_referenced_uuids(batch))
        existing = _check_devices(collector, batch, existing_qs)
    stale = {host.pk} if new_devices else set()
    for declared in batch.devices:
        device = existing[declared.uuid]
        wanted = {
            **_device_attributes(declared, only_given=True),
            "host_id": host.pk,
            "collector_id": collector.pk,
        }
        changed = {name: value for name, value in wanted.items() if getattr(device, name) != value}
        if changed:
            Device.objects.filter(pk=device.pk).update(**changed)
            if set(changed) - {"collector_id", "power_limit_w", "source"}:
                stale |= {host.pk, device.host_id}
    if stale:
        # New or changed devices change in-service windows and embodied rates (no signals here).
        from assessments.footprint.in_service import in_service_mark_stale

        in_service_mark_stale(stale)
    return existing


# Columns the ingest fills; any other RawSample / DirtyHour column gets its model default.
_SAMPLE_COLUMNS = (
    "device_id",
    "ts",
    "duration_s",
    "energy_j",
    "power_w",
    "util_pct",
    "mem_used_mib",
    "tags",
    "jobs",
)
_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS greenai_ingest_staging (
    device_id bigint NOT NULL,
    ts timestamptz NOT NULL,
    duration_s double precision NOT NULL,
    energy_j double precision NOT NULL,
    power_w double precision,
    util_pct double precision,
    mem_used_mib double precision,
    tags jsonb,
    jobs jsonb
) ON COMMIT DELETE ROWS
"""
# Raw (psycopg) connections whose session holds the staging table, created and committed.
_staging_ready = weakref.WeakSet()


def _staging_table_create() -> None:
    """Create the session's staging table once per database connection.

    Outside a transaction the CREATE commits at once and lasts as long as the session. Inside
    one (the seeder's, a test's) a rollback would undo it: then it is not remembered and is
    issued again (IF NOT EXISTS) for every batch.
    """
    connection.ensure_connection()
    raw = connection.connection
    if raw in _staging_ready:
        return
    with connection.cursor() as cursor:
        cursor.execute(_STAGING_DDL)
    if not connection.in_atomic_block:
        _staging_ready.add(raw)


def _other_columns(model, filled: set[str]) -> list[tuple[str, object]]:
    return [
        (field.column, field.get_db_prep_save(field.get_default(), connection))
        for field in model._meta.concrete_fields
        if not field.primary_key and field.column not in filled
    ]


def _pg_insert_sql() -> tuple[str, list, list]:
    """One statement: staged rows into raw samples (new ones only), their hours marked dirty,
    the batch's stored_count set, the staging table emptied.

    All its parts see one snapshot: the INSERT reads every staged row although the DELETE
    empties the table (which empties at commit anyway; inside a longer transaction, the
    seeder's or a test's, the next batch must find it empty too).

    Marks are appended, one per (device, hour) of this batch, naming the batch: ingest never updates
    a mark, so it never waits on one a rollup holds.

        The hour rule is collectors.intervals.hours_touched: [ts - duration_s, ts) touches the hour
        of its start and the hour just before its (exclusive) end. Rows go in ordered, so that two
        concurrent batches with overlapping samples lock them in the same order (no deadlock).
    """
    sample_extra = _other_columns(RawSample, {*_SAMPLE_COLUMNS, "batch_id"})
    dirty_extra = _other_columns(DirtyHour, {"device_id", "hour", "marked_at", "batch_id"})
    sample_cols = ", ".join([*_SAMPLE_COLUMNS, "batch_id", *(c for c, _ in sample_extra)])
    dirty_cols = ", ".join(
        ["device_id", "hour", "marked_at", "batch_id", *(c for c, _ in dirty_extra)]
    )
    sql = f"""
WITH inserted AS (
    INSERT INTO {RawSample._meta.db_table} ({sample_cols})
    SELECT {", ".join(_SAMPLE_COLUMNS)}, %s{", %s" * len(sample_extra)}
    FROM greenai_ingest_staging
    ORDER BY device_id, ts
    ON CONFLICT (device_id, ts) DO NOTHING
    RETURNING device_id, ts, duration_s
), hours AS (
    SELECT device_id, date_trunc('hour', ts - make_interval(secs => duration_s)) AS hour
    FROM inserted
    UNION
    SELECT device_id, date_trunc('hour', ts - interval '1 microsecond') FROM inserted
), marked AS (
    INSERT INTO {DirtyHour._meta.db_table} ({dirty_cols})
    SELECT device_id, hour, %s, %s{", %s" * len(dirty_extra)} FROM hours
), counted AS (
    UPDATE {IngestBatch._meta.db_table} SET stored_count = (SELECT count(*) FROM inserted)
    WHERE id = %s
), emptied AS (
    DELETE FROM greenai_ingest_staging
)
SELECT count(*) FROM inserted
"""
    return sql, [value for _, value in sample_extra], [value for _, value in dirty_extra]


def _samples_insert_postgres(rows: list[tuple], batch_pk: int, now: datetime) -> int:
    """COPY into the session's staging table (_staging_table_create made it), then one
    statement (_pg_insert_sql); the number of samples stored."""
    sql, sample_extra, dirty_extra = _pg_insert_sql()
    session = connection.connection
    try:
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
            with raw.copy(
                f"COPY greenai_ingest_staging ({', '.join(_SAMPLE_COLUMNS)}) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            params = [batch_pk, *sample_extra, now, batch_pk, *dirty_extra, batch_pk]
            cursor.execute(sql, params)
            return cursor.fetchone()[0]
    except Exception:
        # Should the session have lost its table (DISCARD TEMP), the next batch creates it.
        _staging_ready.discard(session)
        raise


def _samples_insert_generic(rows: list[tuple], batch_pk: int, now: datetime) -> int:
    """SQLite (and any other backend): skip stored samples, bulk_create the rest."""
    device_ids = {row[0] for row in rows}
    stamps = [row[1] for row in rows]
    stored = set(
        RawSample.objects.filter(
            device_id__in=device_ids, ts__gte=min(stamps), ts__lte=max(stamps)
        ).values_list("device_id", "ts")
    )
    new_rows = {(row[0], row[1]): row for row in rows if (row[0], row[1]) not in stored}
    RawSample.objects.bulk_create(
        [
            RawSample(
                device_id=device_id,
                ts=ts,
                duration_s=duration_s,
                energy_j=energy_j,
                power_w=power_w,
                util_pct=util_pct,
                mem_used_mib=mem_used_mib,
                tags=json.loads(tags) if tags is not None else None,
                jobs=json.loads(jobs) if jobs is not None else None,
                batch_id=batch_pk,
            )
            for (
                device_id,
                ts,
                duration_s,
                energy_j,
                power_w,
                util_pct,
                mem_used_mib,
                tags,
                jobs,
            ) in new_rows.values()
        ],
        ignore_conflicts=True,
    )
    dirty = {(row[0], hour) for row in new_rows.values() for hour in hours_touched(row[1], row[2])}
    DirtyHour.objects.bulk_create(
        [
            DirtyHour(device_id=device_id, hour=hour, marked_at=now, batch_id=batch_pk)
            for device_id, hour in sorted(dirty)
        ]
    )
    return len(new_rows)


# --- Retention ------------------------------------------------------------------------------


@dataclass
class RetentionResult:
    deleted: int = 0  # rows deleted one by one (SQLite; PostgreSQL's default partition)
    batches: int = 0
    cutoff: datetime | None = None
    remaining_old: int = field(default=0)  # older than the cutoff, kept (not rolled up yet)
    dropped_days: list = field(default_factory=list)  # PostgreSQL: day partitions dropped
    kept_days: list = field(default_factory=list)  # PostgreSQL: old days kept (pending marks)
    dropped_rows_estimate: int = 0


def _day_has_pending_marks(day) -> bool:
    """Whether an hour not yet rolled up may need samples ending on this UTC day: a sample
    ending at ts touches hours in (ts - 2 h, ts]."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    return DirtyHour.objects.filter(
        hour__gt=start - timedelta(hours=2), hour__lt=start + timedelta(days=1)
    ).exists()


def raw_samples_delete_old(
    *,
    now: datetime | None = None,
    retention_days: int | None = None,
    batch_size: int = 5000,
    max_batches: int = 200,
) -> RetentionResult:
    """Remove raw samples older than the retention.

    PostgreSQL (partitioned by day): whole days past the cutoff are detached and dropped, in
    constant time, except a day with a pending mark near it (kept whole until rolled up). What
    is left old (SQLite's plain table, PostgreSQL's DEFAULT partition) is deleted in bounded
    batches; samples of a (device, hour) still marked are kept (a sample ending at ts touches
    hours in (ts - 2 h, ts]).
    """
    now = now or timezone.now()
    days = retention_days if retention_days is not None else settings.RAW_SAMPLE_RETENTION_DAYS
    cutoff = now - timedelta(days=days)
    result = RetentionResult(cutoff=cutoff)
    old = RawSample.objects.filter(ts__lt=cutoff)
    if partitions.is_partitioned():
        day_names = partitions.day_partitions()
        dropped = partitions.drop_days_before(cutoff, keep=_day_has_pending_marks)
        result.dropped_days, result.kept_days, result.dropped_rows_estimate = dropped
        # Only the DEFAULT partition's rows are deleted one by one; a kept day stays whole.
        for day in day_names:
            start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            if start < cutoff:
                old = old.exclude(ts__gte=start, ts__lt=start + timedelta(days=1))
    unrolled = DirtyHour.objects.filter(
        device_id=OuterRef("device_id"),
        hour__gt=OuterRef("ts") - timedelta(hours=2),
        hour__lte=OuterRef("ts"),
    )
    candidates = old.exclude(Exists(unrolled))
    for _ in range(max_batches):
        ids = list(candidates.order_by("ts").values_list("id", flat=True)[:batch_size])
        if not ids:
            break
        deleted, _ = RawSample.objects.filter(id__in=ids, ts__lt=cutoff).delete()
        result.deleted += deleted
        result.batches += 1
        if len(ids) < batch_size:
            break
    result.remaining_old = old.count() + partitions.estimated_rows(
        [partitions.partition_name(day) for day in result.kept_days]
    )
    return result
