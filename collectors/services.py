"""Writes of the collectors app: collectors and their tokens, ingest, refusals, retention.

ingest_batch() is the one way samples enter the database (the HTTP API and the demo seeder both
call it). It validates the whole batch before writing anything, then writes it in one
transaction: host and devices, the batch record (its unique batch_id makes a resend harmless),
the samples (unique per device and ts, so a re-sent sample is stored once) and the dirty hours
the rollup recomputes.
"""

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from pydantic import ValidationError

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
from collectors.schemas import DeviceIn, IngestPayload, error_details
from collectors.selectors import COLLECTOR_TOKEN_KIND
from greenai_site.tokens import new_token

logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class IngestResult:
    batch_id: uuid.UUID
    accepted: int  # samples stored by this call
    duplicate: bool  # the batch_id was already stored: nothing written
    sample_count: int = 0  # samples in the batch


# --- Collectors -----------------------------------------------------------------------------


def collector_create(*, name: str, team=None, created_by=None) -> tuple[Collector, str]:
    """A new collector and its token. The token is returned once; only its digest is kept."""
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


def ingest_rejection_record(
    *, collector: Collector | None, status: int, reason: str, message: str
) -> IngestRejection:
    return IngestRejection.objects.create(
        collector=collector, status=status, reason=reason[:50], message=message[:4000]
    )


# --- Ingest ---------------------------------------------------------------------------------


def ingest_validate(payload: dict | bytes | str, *, now: datetime | None = None) -> IngestPayload:
    """The parsed batch (from a dict or JSON text), or IngestValidationError naming every bad
    field. JSON text is parsed and validated in one pass by pydantic (faster than json.loads)."""
    context = {"now": now or timezone.now()}
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
        details = error_details(exc)
        raise IngestValidationError(
            f"The batch has {len(details)} invalid field(s); nothing was stored.", details
        ) from None


def ingest_batch(
    *, collector: Collector, payload: dict | bytes | str, now: datetime | None = None
) -> IngestResult:
    """Validate and store one batch (a dict, or its JSON text) for this collector.

    Raises IngestValidationError (400) or DeviceOwnedElsewhere (403); then nothing is stored.
    """
    now = now or timezone.now()
    batch = ingest_validate(payload, now=now)
    if IngestBatch.objects.filter(batch_id=batch.batch_id).exists():
        return IngestResult(batch.batch_id, 0, True, len(batch.samples))
    _check_devices(collector, batch, Device.objects.filter(uuid__in=_referenced_uuids(batch)))
    # PostgreSQL: the days' partitions, before the transaction (usually made ahead already).
    partitions.ensure_partitions_for(sample.ts for sample in batch.samples)
    try:
        with transaction.atomic():
            result, host_id, device_ids = _store(collector, batch, now)
    except _Duplicate:
        return IngestResult(batch.batch_id, 0, True, len(batch.samples))
    _last_seen_touch(collector.pk, host_id, device_ids, now)
    return result


class _Duplicate(Exception):
    pass


def _referenced_uuids(batch: IngestPayload) -> set[str]:
    return {device.uuid for device in batch.devices} | {sample.device for sample in batch.samples}


def _owned_by_other_active(device: Device, collector: Collector) -> bool:
    # A revoked collector's devices may be taken over: that is how a leaked token is replaced.
    owner = device.collector
    return owner is not None and owner.pk != collector.pk and owner.revoked_at is None


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
    collector: Collector, batch: IngestPayload, now: datetime
) -> tuple[IngestResult, int, list[int]]:
    """The transaction's writes; last-seen times are left to _last_seen_touch."""
    host = _host_upsert(collector, batch, now)
    try:
        # A savepoint, so that a concurrent copy's IntegrityError leaves the transaction usable.
        # On PostgreSQL the second copy waits here until the first commits, then fails.
        with transaction.atomic():
            record = IngestBatch.objects.create(
                batch_id=batch.batch_id,
                collector=collector,
                host=host,
                received_at=now,
                sample_count=len(batch.samples),
            )
    except IntegrityError:
        raise _Duplicate() from None
    device_ids = _devices_upsert(collector, host, batch, now)
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
            )
    rows = list(by_key.values())
    if not rows:
        accepted = 0
    elif connection.vendor == "postgresql":
        accepted = _samples_insert_postgres(rows, record.pk, now)
    else:
        accepted = _samples_insert_generic(rows, record.pk, now)
    IngestBatch.objects.filter(pk=record.pk).update(stored_count=accepted)
    result = IngestResult(batch.batch_id, accepted, False, len(batch.samples))
    return result, host.pk, list(device_ids.values())


def _last_seen_touch(collector_id: int, host_id: int, device_ids: list[int], now: datetime):
    """Move last_seen_at forward, after the batch's transaction.

    Not inside it: every batch of a collector (a DaemonSet shares one token across hosts) would
    lock the same collector row until its commit, so concurrent batches would queue behind
    each other. Here each UPDATE locks its rows only for its own statement.
    """
    stale = Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now)
    Collector.objects.filter(stale, pk=collector_id).update(last_seen_at=now)
    Host.objects.filter(stale, pk=host_id).update(last_seen_at=now)
    Device.objects.filter(stale, pk__in=device_ids).update(last_seen_at=now)


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


def _host_upsert(collector: Collector, batch: IngestPayload, now: datetime) -> Host:
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
        changes = {}
        if batch.host.agent_version and batch.host.agent_version != host.agent_version:
            changes["agent_version"] = batch.host.agent_version
        if host.collector is None or host.collector.revoked_at is not None:
            changes["collector"] = collector  # unclaimed (inventory-made) or a revoked owner
        if host.first_seen_at is None:  # hosts the inventory created before the agent ran
            changes["first_seen_at"] = now
        if changes:  # rarely: most batches change nothing here and lock nothing
            Host.objects.filter(pk=host.pk).update(**changes)
    return host


_DEVICE_ATTRIBUTES = ("kind", "index", "name", "power_limit_w", "is_mig", "parent_uuid")


def _device_attributes(declared: DeviceIn, *, only_given: bool = False) -> dict:
    """The device's attributes from its declaration; only_given: those the agent sent, so that
    an omitted power limit or name never wipes a known one."""
    return {
        name: getattr(declared, name)
        for name in _DEVICE_ATTRIBUTES
        if not only_given or name in declared.model_fields_set
    }


def _devices_upsert(
    collector: Collector, host: Host, batch: IngestPayload, now: datetime
) -> dict[str, int]:
    """Register declared devices on first sight, refresh their attributes; uuid -> id."""
    referenced = _referenced_uuids(batch)
    existing = {device.uuid: device for device in Device.objects.filter(uuid__in=referenced)}
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
        existing_qs = Device.objects.filter(uuid__in=referenced)
        existing = _check_devices(collector, batch, existing_qs)
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
    return {uuid_: device.pk for uuid_, device in existing.items()}


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
    tags jsonb
) ON COMMIT DELETE ROWS
"""


def _other_columns(model, filled: set[str]) -> list[tuple[str, object]]:
    return [
        (field.column, field.get_db_prep_save(field.get_default(), connection))
        for field in model._meta.concrete_fields
        if not field.primary_key and field.column not in filled
    ]


def _pg_insert_sql() -> tuple[str, list, list]:
    """One statement: staged rows into raw samples (new ones only), their hours marked dirty.

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
)
SELECT count(*) FROM inserted
"""
    return sql, [value for _, value in sample_extra], [value for _, value in dirty_extra]


def _samples_insert_postgres(rows: list[tuple], batch_pk: int, now: datetime) -> int:
    """COPY into a session temp table, then one INSERT ... ON CONFLICT DO NOTHING."""
    sql, sample_extra, dirty_extra = _pg_insert_sql()
    with connection.cursor() as cursor:
        cursor.execute(_STAGING_DDL)
        raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
        with raw.copy(
            f"COPY greenai_ingest_staging ({', '.join(_SAMPLE_COLUMNS)}) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(sql, [batch_pk, *sample_extra, now, batch_pk, *dirty_extra])
        accepted = cursor.fetchone()[0]
        # The table empties at commit anyway; inside a longer transaction (the seeder's, a
        # test's) the next batch must find it empty too.
        cursor.execute("TRUNCATE greenai_ingest_staging")
        return accepted


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
                batch_id=batch_pk,
            )
            for device_id, ts, duration_s, energy_j, power_w, util_pct, mem_used_mib, tags in (
                new_rows.values()
            )
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
