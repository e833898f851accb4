"""The rollup: turn the marked (device, hour) pairs into hourly facts, incrementally.

Ingest appends a mark (collectors.models.DirtyHour) per (device, hour, batch) its samples touch.
Devices are split into shards (device_id % ROLLUP_SHARDS); the periodic task sends one task per
shard with work, so every worker on any machine takes a share. One batch here:

1. claims its shard's row (assessments.models.RollupShard) with SELECT ... FOR UPDATE SKIP
   LOCKED on PostgreSQL (a shard busy elsewhere is skipped; on SQLite, whose writing
   transactions are serialised, the transaction is the claim), then up to `batch_size`
   (device, hour) pairs of the shard with marks made before the run started (never the ones
   arriving while it runs, so a run never chases its own tail);
2. for a pair whose fact holds its unpriced sums and whose marks all name an ingest batch, adds
   the sums of just those batches' samples (cost proportional to the new rows); otherwise (a
   recompute request, a new hour, changed allocation boundaries) sums all the hour's samples,
   leaving out those of batches whose marks are still waiting (they will be added by them);
3. attributes and prices the sums with `footprint_math` (the only place the formulas live),
   using the factors stored with the hour's existing fact unless a refresh was asked for;
4. replaces the hour's facts, keeps the daily aggregates in step (the touched devices' days,
   and the projects' days by difference) and deletes exactly the marks it processed.

Ingest only inserts (samples and marks), so it never waits on anything a rollup holds.
Hours older than the raw-sample retention keep the energy and time stored in their facts (their
samples may be partly deleted); recomputing them only re-prices them.
"""

import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from assessments.footprint import footprint_math as fm
from assessments.footprint.scope_ranges import measurement_of
from assessments.models import (
    MEASURE_FIELDS,
    Allocation,
    AttributionRule,
    HourlyDeviceFact,
    HourlyJobFact,
    HourlyProjectFact,
    Phase,
    Project,
    RollupShard,
)
from assessments.organisation import attribution
from assessments.organisation.factor_resolver import FactorResolver
from collectors.models import Device, DirtyHour, RawSample

logger = logging.getLogger(__name__)

# Ingest refuses intervals longer than an hour, so a sample ending more than 2 h after an hour
# starts cannot reach into it: this bounds the index range scanned per hour.
MAX_INTERVAL_S = 3600
HOUR = timedelta(hours=1)
# Device-hours per batch (one transaction): a batch commits its facts before the next starts.
DEFAULT_BATCH_SIZE = 500
SQLITE_MAX_BATCH = 50  # device-hours per transaction on SQLite (it holds the one write lock)
PHASES = frozenset(Phase.values)


@dataclass
class RollupResult:
    batches: int = 0
    hours: int = 0
    device_facts: int = 0
    project_facts: int = 0
    failed: int = 0  # device-hours left dirty because recomputing them failed
    seconds: float = 0.0
    marks: int = 0  # marks processed
    rows: int = 0  # raw samples read
    incremental: int = 0  # device-hours updated from their new samples only
    skipped_shards: list[int] = field(default_factory=list)  # busy elsewhere

    def add(self, other: "RollupResult") -> None:
        self.batches += other.batches
        self.hours += other.hours
        self.device_facts += other.device_facts
        self.project_facts += other.project_facts
        self.marks += other.marks
        self.rows += other.rows
        self.incremental += other.incremental
        self.skipped_shards += other.skipped_shards


def shard_count() -> int:
    return settings.ROLLUP_SHARDS


def last_mark_id() -> int:
    """The newest mark now: a run takes the marks up to it, never those made after it started."""
    return DirtyHour.objects.aggregate(last=Max("id"))["last"] or 0


def pending_shards(up_to: int) -> list[int]:
    """Shards with marks up to `up_to`."""
    return sorted(
        DirtyHour.objects.filter(id__lte=up_to)
        .annotate(shard=F("device_id") % shard_count())
        .values_list("shard", flat=True)
        .distinct()
    )


def rollup_dirty_hours(
    *, batch_size: int = DEFAULT_BATCH_SIZE, max_batches: int | None = None
) -> RollupResult:
    """Process every shard's marks made before this call, in this process (the command, tests,
    a single-machine set-up). The periodic task spreads the shards over the workers instead."""
    started = time.monotonic()
    up_to = last_mark_id()
    total = RollupResult()
    for shard in pending_shards(up_to):
        left = None if max_batches is None else max_batches - total.batches
        if left is not None and left <= 0:
            break
        result = rollup_shard(shard, up_to=up_to, batch_size=batch_size, max_batches=left)
        total.add(result)
        total.failed += result.failed
    from assessments.footprint.in_service import in_service_refresh

    in_service_refresh()  # hosts whose inventory changed: their in-service rows rebuilt
    total.seconds = time.monotonic() - started
    return total


def rollup_shard(
    shard: int,
    *,
    up_to: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
) -> RollupResult:
    """Process one shard's marks up to `up_to` (default: the newest now), in bounded batches.

    A batch that fails is retried hour by hour; an hour that fails on its own is logged, left
    marked (visible as rollup lag) and skipped for the rest of this run, so one bad hour
    never holds up the others. Stops early if another run holds the shard.
    """
    if connection.vendor == "sqlite":
        batch_size = min(batch_size, SQLITE_MAX_BATCH)
    up_to = last_mark_id() if up_to is None else up_to
    started_at = timezone.now()
    started = time.monotonic()
    total = RollupResult()
    failed: set[tuple[int, datetime]] = set()
    while max_batches is None or total.batches < max_batches:
        try:
            result = rollup_batch(batch_size=batch_size, skip=failed, shard=shard, up_to=up_to)
        except Exception:
            logger.exception("rollup batch failed; retrying its hours one by one")
            result = _rollup_one_by_one(batch_size, failed, shard, up_to)
        total.add(result)
        if result.skipped_shards or (result.hours == 0 and result.failed == 0):
            break
    total.failed = len(failed)
    total.seconds = time.monotonic() - started
    if total.batches and not total.skipped_shards:
        _record_run(shard, started_at, total)
    return total


def rollup_batch(
    *,
    batch_size: int,
    skip: set = frozenset(),
    shard: int | None = None,
    up_to: int | None = None,
) -> RollupResult:
    """Claim, recompute and release one batch of marked hours, in one transaction.

    shard None: every shard (those not held by another run)."""
    _ensure_shards()
    with transaction.atomic():
        shards = _claim_shards(shard)
        if not shards:
            return RollupResult(skipped_shards=[shard] if shard is not None else [])
        claimed = _claim_marks(shards, up_to, batch_size, skip)
        if not claimed:
            return RollupResult()
        counts = _recompute(claimed)
        _release(claimed)
    device_facts, project_facts = counts[:2]
    stats = counts[2] if len(counts) > 2 else {}
    return RollupResult(
        batches=1,
        hours=len({(row.device_id, row.hour) for row in claimed}),
        device_facts=device_facts,
        project_facts=project_facts,
        marks=len(claimed),
        rows=stats.get("rows", 0),
        incremental=stats.get("incremental", 0),
    )


def _rollup_one_by_one(batch_size: int, failed: set, shard: int | None, up_to) -> RollupResult:
    total = RollupResult(batches=1)
    for _ in range(batch_size):
        try:
            with transaction.atomic():
                shards = _claim_shards(shard)
                if not shards:
                    total.skipped_shards = [shard] if shard is not None else []
                    break
                claimed = _claim_marks(shards, up_to, 1, failed)
                if not claimed:
                    break
                try:
                    counts = _recompute(claimed)
                except Exception:
                    row = claimed[0]
                    logger.exception(
                        "rollup of device %s, hour %s failed; left dirty", row.device_id, row.hour
                    )
                    failed.add((row.device_id, row.hour))
                    total.failed += 1
                    raise _Skip from None
                _release(claimed)
        except _Skip:
            continue
        total.hours += 1
        total.marks += len(claimed)
        total.device_facts += counts[0]
        total.project_facts += counts[1]
        if len(counts) > 2:
            total.rows += counts[2].get("rows", 0)
            total.incremental += counts[2].get("incremental", 0)
    return total


class _Skip(Exception):
    """Rolls back the transaction of one failed hour."""


# --- claiming and releasing ---------------------------------------------------------------


def _ensure_shards() -> None:
    count = shard_count()
    if RollupShard.objects.filter(shard__lt=count).count() < count:
        RollupShard.objects.bulk_create(
            [RollupShard(shard=n) for n in range(count)], ignore_conflicts=True
        )


def _claim_shards(shard: int | None) -> list[int]:
    """The shards this transaction holds: on PostgreSQL their rows locked FOR UPDATE SKIP LOCKED
    (one busy elsewhere is left out); on SQLite the writing transaction is already exclusive."""
    wanted = list(range(shard_count())) if shard is None else [shard]
    rows = RollupShard.objects.filter(shard__in=wanted).order_by("shard")
    if connection.vendor == "postgresql":
        rows = rows.select_for_update(skip_locked=True)
    return list(rows.values_list("shard", flat=True))


def _claim_marks(shards: list[int], up_to, batch_size: int, skip=frozenset()) -> list[DirtyHour]:
    """Every mark (up to `up_to`) of the first `batch_size` (device, hour) pairs of the shards."""
    marks = DirtyHour.objects.annotate(shard=F("device_id") % shard_count()).filter(
        shard__in=shards
    )
    if up_to is not None:
        marks = marks.filter(id__lte=up_to)
    pairs = []
    candidates = (marks.values_list("device_id", "hour").distinct().order_by("hour", "device_id"))[
        : batch_size + len(skip)
    ]
    for pair in candidates:
        if pair not in skip:
            pairs.append(pair)
        if len(pairs) == batch_size:
            break
    if not pairs:
        return []
    wanted = set(pairs)
    rows = marks.filter(
        device_id__in={d for d, _ in pairs},
        hour__gte=min(h for _, h in pairs),
        hour__lte=max(h for _, h in pairs),
    ).order_by("id")
    return [row for row in rows if (row.device_id, row.hour) in wanted]


def _release(claimed: list[DirtyHour]) -> None:
    """Delete exactly the marks processed: those made meanwhile stay for the next run."""
    ids = [row.pk for row in claimed]
    for offset in range(0, len(ids), 5000):
        DirtyHour.objects.filter(pk__in=ids[offset : offset + 5000]).delete()


def _record_run(shard: int, started_at: datetime, result: RollupResult) -> None:
    RollupShard.objects.filter(shard=shard).update(
        last_started_at=started_at,
        last_finished_at=timezone.now(),
        last_seconds=result.seconds,
        last_marks=result.marks,
        last_hours=result.hours,
        last_rows=result.rows,
        runs=F("runs") + 1,
    )


# --- recomputing ---------------------------------------------------------------------------


@dataclass
class _Pair:
    device: Device
    hour: datetime
    refresh_factors: bool
    segments: list[tuple[float, float]]
    segment_projects: list[tuple[str, ...]]  # allocated project slugs per segment
    marks: list[DirtyHour] = field(default_factory=list)
    old_fact: HourlyDeviceFact | None = None
    old_parts: list[HourlyProjectFact] | None = None

    @property
    def batches(self) -> set[int]:
        return {mark.batch_id for mark in self.marks}

    def stored_sums(self) -> dict | None:
        """The sums stored with the fact, if new samples may simply be added to them: the fact
        holds them, every mark names an ingest batch and the segments are unchanged."""
        usage = self.old_fact.usage if self.old_fact is not None else None
        if not usage or any(mark.batch_id is None for mark in self.marks):
            return None
        if [tuple(seg) for seg in usage["segments"]] != self.segments:
            return None
        sums: dict = defaultdict(fm.UsageSums)
        for index, tags_key, jobs_key, energy, seconds, util_x_s, util_s in usage["sums"]:
            sums[(index, tags_key, jobs_key)] = fm.UsageSums(energy, seconds, util_x_s, util_s)
        return sums


def _recompute(claimed: list[DirtyHour]) -> tuple[int, int, dict]:
    """Recompute the claimed pairs; (device facts, project facts, {"rows", "incremental"})."""
    devices = Device.objects.select_related("host__site").in_bulk(
        {row.device_id for row in claimed}
    )
    projects = {p.slug: p for p in Project.objects.select_related("team")}
    rules = [
        attribution.Rule(rule.position, rule.match, rule.project.slug, rule.phase)
        for rule in AttributionRule.objects.select_related("project")
    ]
    allocations = _allocations_by_device(devices.values(), claimed)

    pairs: dict[tuple[int, datetime], _Pair] = {}
    for row in claimed:
        key = (row.device_id, row.hour)
        if key in pairs:
            pairs[key].marks.append(row)
            pairs[key].refresh_factors |= row.refresh_factors
            continue
        device = devices[row.device_id]
        hour_s = row.hour.timestamp()
        device_allocations = allocations.get(device.pk, [])
        cuts = []
        for allocation in device_allocations:
            cuts.append(allocation.start.timestamp())
            if allocation.end is not None:
                cuts.append(allocation.end.timestamp())
        segments = fm.segments_of_hour(hour_s, cuts)
        segment_projects = [
            tuple(
                a.project.slug
                for a in device_allocations
                if a.start.timestamp() <= seg_start
                and (a.end is None or a.end.timestamp() >= seg_end)
            )
            for seg_start, seg_end in segments
        ]
        pairs[key] = _Pair(
            device, row.hour, row.refresh_factors, segments, segment_projects, marks=[row]
        )

    _attach_old_facts(pairs)
    incremental = {}
    for key, pair in pairs.items():
        stored = pair.stored_sums()
        if stored is not None:
            incremental[key] = stored
    full = {key: pair for key, pair in pairs.items() if key not in incremental}
    rows = 0
    sums: dict = {}
    if incremental:
        rows += _add_new_samples(incremental, pairs)
        sums.update(incremental)
    if full:
        claimed_ids = [row.pk for row in claimed]
        if connection.vendor == "postgresql":
            full_sums, full_rows = _usage_sums_sql(full, claimed_ids)
        else:
            full_sums, full_rows = _usage_sums_python(full, claimed_ids)
        sums.update(full_sums)
        rows += full_rows

    retention_cutoff = timezone.now() - timedelta(days=settings.RAW_SAMPLE_RETENTION_DAYS)
    resolver = FactorResolver()
    resolver.prefetch_embodied(
        [p.device for p in pairs.values() if p.old_fact is None or p.refresh_factors]
    )
    device_rows: list[HourlyDeviceFact] = []
    project_rows: list[HourlyProjectFact] = []
    job_rows: list[HourlyJobFact] = []
    jobs_replaced: list[tuple[int, datetime]] = []  # pairs whose job facts are recomputed
    now = timezone.now()
    for key, pair in pairs.items():
        pair_sums = sums.get(key, {})
        use_stored = (
            key not in incremental
            and pair.old_fact is not None
            and (
                not pair_sums
                or (pair.hour + HOUR <= retention_cutoff and _lost_samples(pair, pair_sums))
            )
        )
        if use_stored:
            built = _rebuild_from_stored(pair, resolver, now)
        elif pair_sums:
            built = _build_from_sums(pair, pair_sums, projects, rules, resolver, now)
            job_rows.extend(built[2])
            jobs_replaced.append(key)
        else:
            built = None  # no samples and no fact: nothing to record
            jobs_replaced.append(key)
        if built:
            device_rows.append(built[0])
            project_rows.extend(built[1])

    _replace_facts(pairs.keys(), device_rows, project_rows)
    _replace_job_facts(jobs_replaced, job_rows)
    _daily_facts_update(pairs, project_rows)
    return len(device_rows), len(project_rows), {"rows": rows, "incremental": len(incremental)}


def _add_new_samples(sums_by_pair: dict, pairs: dict) -> int:
    """Add the samples of the marks' batches to the stored sums; returns the rows read.

    Only the new rows are read (by batch), so the cost does not grow with the hour so far.
    """
    wanted = defaultdict(dict)  # (device_id, batch_id) -> {hour_s: pair key}
    for key in sums_by_pair:
        for batch_id in pairs[key].batches:
            wanted[(key[0], batch_id)][key[1].timestamp()] = key
    hours = [key[1] for key in sums_by_pair]
    samples = RawSample.objects.filter(
        batch_id__in={batch_id for _, batch_id in wanted},
        device_id__in={device_id for device_id, _ in wanted},
        ts__gt=min(hours),
        ts__lt=max(hours) + HOUR + timedelta(seconds=MAX_INTERVAL_S),
    ).values_list(
        "device_id", "batch_id", "ts", "duration_s", "energy_j", "util_pct", "tags", "jobs"
    )
    rows = 0
    for device_id, batch_id, ts, duration_s, energy_j, util_pct, tags, jobs in samples.iterator(
        chunk_size=5000
    ):
        hour_keys = wanted.get((device_id, batch_id))
        if not hour_keys:
            continue
        rows += 1
        ts_s = ts.timestamp()
        tags_key = json.dumps(tags, sort_keys=True) if tags else None
        jobs_key = json.dumps(jobs, sort_keys=True) if jobs else None
        for hour_s in fm.hours_touched(ts_s, duration_s):
            key = hour_keys.get(hour_s)
            if key is None:
                continue
            for index, seconds, joules in fm.split_sample(
                ts_s, duration_s, energy_j, pairs[key].segments
            ):
                sums_by_pair[key][(index, tags_key, jobs_key)].add(joules, seconds, util_pct)
    return rows


def _lost_samples(pair: _Pair, pair_sums: dict) -> bool:
    """Whether the samples left measure less time than the stored fact did (retention ran)."""
    seconds = min(fm.SECONDS_PER_HOUR, sum(usage.seconds for usage in pair_sums.values()))
    return seconds < pair.old_fact.measured_seconds - 1e-6


def _allocations_by_device(devices, claimed) -> dict[int, list[Allocation]]:
    first = min(row.hour for row in claimed)
    last = max(row.hour for row in claimed) + HOUR
    by_host = defaultdict(list)
    host_allocations = (
        Allocation.objects.filter(host_id__in={d.host_id for d in devices}, start__lt=last)
        .exclude(end__lte=first)
        .select_related("project")
    )
    for allocation in host_allocations:
        by_host[allocation.host_id].append(allocation)
    result = {}
    for device in devices:
        result[device.pk] = [
            a
            for a in by_host.get(device.host_id, [])
            if a.device_indexes is None or device.index in a.device_indexes
        ]
    return result


def _attach_old_facts(pairs: dict) -> None:
    by_hour = defaultdict(list)
    for device_id, hour in pairs:
        by_hour[hour].append(device_id)
    for hour, device_ids in by_hour.items():
        for fact in HourlyDeviceFact.objects.filter(hour=hour, device_id__in=device_ids):
            pairs[(fact.device_id, hour)].old_fact = fact
        for part in HourlyProjectFact.objects.filter(hour=hour, device_id__in=device_ids):
            pair = pairs[(part.device_id, hour)]
            pair.old_parts = (pair.old_parts or []) + [part]


def _usage_sums_python(pairs: dict, claimed_ids: list[int]) -> tuple[dict, int]:
    """({(device_id, hour): {(segment index, tags json): UsageSums}}, rows read), in Python.

    Samples of batches whose marks for the hour are still waiting are left out: those marks add
    them later. (SQLite: no other writer commits during this transaction.)
    """
    sums: dict = defaultdict(lambda: defaultdict(fm.UsageSums))
    waiting = _waiting_batches(pairs, claimed_ids)
    hours_by_device = defaultdict(list)
    for device_id, hour in pairs:
        hours_by_device[device_id].append(hour)
    rows = 0
    for device_id, hours in hours_by_device.items():
        wanted = {hour.timestamp(): hour for hour in hours}
        for first, last in _runs(sorted(hours)):
            samples = RawSample.objects.filter(
                device_id=device_id,
                ts__gt=first,
                ts__lt=last + HOUR + timedelta(seconds=MAX_INTERVAL_S),
            ).values_list("ts", "duration_s", "energy_j", "util_pct", "tags", "jobs", "batch_id")
            rows += _add_samples(
                sums, pairs, device_id, wanted, samples.iterator(chunk_size=5000), waiting
            )
    return sums, rows


def _waiting_batches(pairs: dict, claimed_ids: list[int]) -> dict:
    """{(device_id, hour): batch ids whose marks for that pair are not in this claim}."""
    waiting = defaultdict(set)
    claimed = set(claimed_ids)
    by_hour = defaultdict(list)
    for device_id, hour in pairs:
        by_hour[hour].append(device_id)
    for hour, device_ids in by_hour.items():
        for pk, device_id, batch_id in DirtyHour.objects.filter(
            hour=hour, device_id__in=device_ids, batch_id__isnull=False
        ).values_list("pk", "device_id", "batch_id"):
            if pk not in claimed:
                waiting[(device_id, hour)].add(batch_id)
    return waiting


def _runs(hours: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Consecutive hours grouped into (first, last) runs, so each run is one range query."""
    runs = []
    for hour in hours:
        if runs and hour - runs[-1][1] <= HOUR:
            runs[-1][1] = hour
        else:
            runs.append([hour, hour])
    return [(first, last) for first, last in runs]


def _add_samples(sums, pairs, device_id, wanted, samples, waiting) -> int:
    rows = 0
    for ts, duration_s, energy_j, util_pct, tags, jobs, batch_id in samples:
        ts_s = ts.timestamp()
        tags_key = json.dumps(tags, sort_keys=True) if tags else None
        jobs_key = json.dumps(jobs, sort_keys=True) if jobs else None
        counted = False
        for hour_s in fm.hours_touched(ts_s, duration_s):
            hour = wanted.get(hour_s)
            if hour is None or batch_id in waiting.get((device_id, hour), ()):
                continue
            counted = True
            pair = pairs[(device_id, hour)]
            for index, seconds, joules in fm.split_sample(
                ts_s, duration_s, energy_j, pair.segments
            ):
                sums[(device_id, hour)][(index, tags_key, jobs_key)].add(joules, seconds, util_pct)
        rows += counted
    return rows


# Set-based sums on PostgreSQL. Per-row arithmetic is what costs, so the bulk of the samples,
# those whose interval lies inside the segment, are only summed (`main`); the few that cross
# the segment's start or end (`edge`) are then corrected exactly. Crossing rows are found among
# the first EDGE_ROWS samples after each boundary: intervals of one device do not overlap,
# so only the first one can cross (the margin allows for clock jitter).
EDGE_ROWS = 10
_SUMS_SQL = """
WITH seg AS (
    SELECT * FROM unnest(%(seg_id)s::int[], %(device_id)s::bigint[],
                         %(seg_start)s::timestamptz[], %(seg_end)s::timestamptz[],
                         %(s0)s::float8[], %(s1)s::float8[], %(hour)s::timestamptz[])
        AS s(seg_id, device_id, seg_start, seg_end, s0, s1, hour)
), main AS (
    SELECT seg.seg_id, r.tags, r.jobs,
           sum(r.energy_j) AS energy,
           coalesce(sum(r.duration_s) FILTER (WHERE r.duration_s > 0), 0.0) AS seconds,
           coalesce(sum(r.util_pct * r.duration_s) FILTER (WHERE r.duration_s > 0), 0.0)
               AS util_x_s,
           coalesce(sum(r.duration_s)
                    FILTER (WHERE r.duration_s > 0 AND r.util_pct IS NOT NULL), 0.0) AS util_s,
           count(*) AS n
    FROM seg
    JOIN collectors_rawsample r
      ON r.device_id = seg.device_id AND r.ts > seg.seg_start AND r.ts <= seg.seg_end
    WHERE NOT EXISTS (
            SELECT 1 FROM collectors_dirtyhour m
            WHERE m.device_id = r.device_id AND m.hour = seg.hour
              AND m.batch_id = r.batch_id AND m.id <> ALL(%(claimed)s::bigint[]))
    GROUP BY seg.seg_id, r.tags, r.jobs
), edge AS (
    -- Counted whole in `main` but started before the segment: take off the part before s0.
    SELECT seg.seg_id, h.tags, h.jobs, h.util_pct, h.energy_j, h.duration_s,
           -(seg.s0 - (date_part('epoch', h.ts) - h.duration_s)) AS seconds
    FROM seg CROSS JOIN LATERAL (
        SELECT ts, tags, jobs, util_pct, energy_j, duration_s FROM collectors_rawsample e
        WHERE e.device_id = seg.device_id AND e.ts > seg.seg_start AND e.ts <= seg.seg_end
          AND NOT EXISTS (
            SELECT 1 FROM collectors_dirtyhour m
            WHERE m.device_id = e.device_id AND m.hour = seg.hour
              AND m.batch_id = e.batch_id AND m.id <> ALL(%(claimed)s::bigint[]))
        ORDER BY e.ts LIMIT %(edge_rows)s
    ) h
    WHERE h.duration_s > 0 AND date_part('epoch', h.ts) - h.duration_s < seg.s0
    UNION ALL
    -- Ends after the segment but starts before its end: add the part inside.
    SELECT seg.seg_id, t.tags, t.jobs, t.util_pct, t.energy_j, t.duration_s,
           seg.s1 - greatest(date_part('epoch', t.ts) - t.duration_s, seg.s0) AS seconds
    FROM seg CROSS JOIN LATERAL (
        SELECT ts, tags, jobs, util_pct, energy_j, duration_s FROM collectors_rawsample e
        WHERE e.device_id = seg.device_id AND e.ts > seg.seg_end
          AND e.ts < seg.seg_end + make_interval(secs => %(max_interval)s)
          AND NOT EXISTS (
            SELECT 1 FROM collectors_dirtyhour m
            WHERE m.device_id = e.device_id AND m.hour = seg.hour
              AND m.batch_id = e.batch_id AND m.id <> ALL(%(claimed)s::bigint[]))
        ORDER BY e.ts LIMIT %(edge_rows)s
    ) t
    WHERE t.duration_s > 0 AND date_part('epoch', t.ts) - t.duration_s < seg.s1
), edge_sums AS (
    SELECT seg_id, tags, jobs,
           sum(energy_j * seconds / duration_s) AS energy,
           sum(seconds) AS seconds,
           coalesce(sum(util_pct * seconds), 0.0) AS util_x_s,
           coalesce(sum(seconds) FILTER (WHERE util_pct IS NOT NULL), 0.0) AS util_s,
           0 AS n
    FROM edge
    GROUP BY seg_id, tags, jobs
)
SELECT seg_id, tags::text, jobs::text,
       sum(energy), sum(seconds), sum(util_x_s), sum(util_s), sum(n)
FROM (SELECT * FROM main UNION ALL SELECT * FROM edge_sums) AS sums
GROUP BY seg_id, tags, jobs
"""


def _usage_sums_sql(pairs: dict, claimed_ids: list[int]) -> tuple[dict, int]:
    """The same sums as _usage_sums_python, computed by PostgreSQL in one statement (one
    snapshot: a batch's samples and its marks are seen together or not at all)."""
    segments = []  # seg_id -> (pair key, segment index)
    device_ids, starts, ends, s0, s1, hours = [], [], [], [], [], []
    for (device_id, hour), pair in pairs.items():
        for index, (seg_start, seg_end) in enumerate(pair.segments):
            segments.append(((device_id, hour), index))
            device_ids.append(device_id)
            starts.append(datetime.fromtimestamp(seg_start, UTC))
            ends.append(datetime.fromtimestamp(seg_end, UTC))
            s0.append(seg_start)
            s1.append(seg_end)
            hours.append(hour)
    sums: dict = defaultdict(dict)
    rows = 0
    with connection.cursor() as cursor:
        cursor.execute(
            _SUMS_SQL,
            {
                "seg_id": list(range(len(segments))),
                "device_id": device_ids,
                "seg_start": starts,
                "seg_end": ends,
                "s0": s0,
                "s1": s1,
                "hour": hours,
                "claimed": claimed_ids,
                "max_interval": float(MAX_INTERVAL_S),
                "edge_rows": EDGE_ROWS,
            },
        )
        for seg_id, tags, jobs, energy, seconds, util_x_s, util_s, count in cursor.fetchall():
            key, index = segments[seg_id]
            tags_key = json.dumps(json.loads(tags), sort_keys=True) if tags else None
            jobs_key = json.dumps(json.loads(jobs), sort_keys=True) if jobs else None
            sums[key][(index, tags_key, jobs_key)] = fm.UsageSums(energy, seconds, util_x_s, util_s)
            rows += int(count or 0)
    return sums, rows


def _build_from_sums(pair: _Pair, pair_sums: dict, projects: dict, rules, resolver, now):
    usages = []
    job_usages = []
    tag_notes: set[str] = set()
    measured_seconds = util_x_s = util_s = 0.0
    for (index, tags_key, jobs_key), usage in pair_sums.items():
        stored_tags = json.loads(tags_key) if tags_key else None
        jobs = json.loads(jobs_key) if jobs_key else None
        if jobs:
            # A tag naming a project wins; otherwise the attribution rules map the jobs.
            if not stored_tags:
                stored_tags = attribution.tags_for_jobs(jobs, rules)
            job_usages.append((jobs, stored_tags, usage))
        tags, notes = fm.parse_tags(stored_tags)
        tag_notes.update(notes)
        usages.append(fm.Usage(tags, pair.segment_projects[index], usage.energy_j, usage.seconds))
        measured_seconds += usage.seconds
        util_x_s += usage.util_pct_seconds
        util_s += usage.util_seconds
    parts, attribution_notes = fm.attribute(usages, projects.keys())
    factors, grid_source, factor_notes = _factors_for(pair, resolver)
    device_figures, part_figures = fm.device_hour_figures(
        [(fm.joules_to_kwh(p.energy_j), p.seconds / fm.SECONDS_PER_HOUR) for p in parts],
        factors,
    )
    notes = sorted(set(factor_notes) | tag_notes | set(attribution_notes))
    site = pair.device.host.site
    device_row = _device_row(
        pair,
        site,
        device_figures,
        factors,
        grid_source,
        notes,
        measured_seconds=min(measured_seconds, fm.SECONDS_PER_HOUR),
        util_mean_pct=fm.mean_util_pct(util_x_s, util_s),
        now=now,
    )
    device_row.usage = {
        "segments": [list(segment) for segment in pair.segments],
        "sums": [
            [index, tags_key, jobs_key, u.energy_j, u.seconds, u.util_pct_seconds, u.util_seconds]
            for (index, tags_key, jobs_key), u in sorted(
                pair_sums.items(),
                key=lambda item: (item[0][0], item[0][1] or "", item[0][2] or ""),
            )
        ],
    }
    project_rows = []
    for part, figures in zip(parts, part_figures, strict=True):
        project = projects.get(part.project) if part.project else None
        phase = fm.normalise_phase(part.phase, PHASES) if part.phase else None
        if part.phase and phase is None:
            device_row.factor_notes = sorted(
                {
                    *device_row.factor_notes,
                    f"unknown phase {part.phase!r} in a tag: the project's phase used",
                }
            )
        project_rows.append(
            _project_row(
                pair,
                site,
                project,
                part.attribution,
                phase or (project.phase if project else ""),
                figures,
            )
        )
    return device_row, project_rows, _job_rows(pair, job_usages, projects, factors)


def _job_rows(pair: _Pair, job_usages, projects: dict, factors) -> list[HourlyJobFact]:
    """Each job's share of the device-hour, priced with the hour's factors."""
    by_job: dict[str, dict] = {}
    for jobs, tags, usage in job_usages:
        for job in jobs:
            share = float(job.get("share", 1.0))
            key = attribution.job_key(job)
            entry = by_job.setdefault(
                key, {"job": job, "joules": 0.0, "seconds": 0.0, "project": None}
            )
            entry["joules"] += usage.energy_j * share
            entry["seconds"] += usage.seconds * share
            entry["project"] = entry["project"] or _job_project(key, tags)
    rows = []
    for key, entry in by_job.items():
        job = entry["job"]
        project = projects.get(entry["project"]) if entry["project"] else None
        figures = fm.figures_for(
            fm.joules_to_kwh(entry["joules"]), entry["seconds"] / fm.SECONDS_PER_HOUR, factors
        )
        rows.append(
            HourlyJobFact(
                device=pair.device,
                hour=pair.hour,
                job_key=key[:300],
                job_id=str(job.get("id") or "")[:100],
                user=str(job.get("user") or "")[:100],
                account=str(job.get("account") or "")[:100],
                namespace=str(job.get("namespace") or "")[:253],
                pod=str(job.get("pod") or "")[:253],
                project=project,
                team_id=project.team_id if project else None,
                energy_it_kwh=figures.energy_it_kwh,
                energy_facility_kwh=figures.energy_facility_kwh,
                operational_kgco2e=figures.operational_kgco2e,
                embodied_kgco2e=figures.embodied_kgco2e,
                cost=figures.cost,
                gpu_hours=figures.gpu_hours,
            )
        )
    return rows


def _job_project(key: str, tags) -> str | None:
    """The project a job's energy went to: its rule's tag, else the sample's only project."""
    if not tags:
        return None
    for tag in tags:
        if isinstance(tag, dict) and tag.get("job") == key and tag.get("project"):
            return tag["project"]
    named = {tag.get("project") for tag in tags if isinstance(tag, dict) and "rule" not in tag}
    return named.pop() if len(named) == 1 else None


def _rebuild_from_stored(pair: _Pair, resolver, now):
    """Re-price an hour from the energy and time stored in its facts (no raw samples used)."""
    old = pair.old_fact
    parts = pair.old_parts or []
    factors, grid_source, factor_notes = _factors_for(pair, resolver)
    _, part_figures = fm.device_hour_figures(
        [(p.energy_it_kwh, p.gpu_hours) for p in parts], factors
    )
    device_figures = fm.sum_figures(part_figures)
    if not parts:  # a fact without parts (should not happen): keep its own quantities
        device_figures = fm.figures_for(old.energy_it_kwh, old.gpu_hours, factors)
    kept_notes = [n for n in old.factor_notes if not n.startswith("factor:")]
    notes = sorted(set(factor_notes) | set(kept_notes))
    site = pair.device.host.site
    device_row = _device_row(
        pair,
        site,
        device_figures,
        factors,
        grid_source,
        notes,
        measured_seconds=old.measured_seconds,
        util_mean_pct=old.util_mean_pct,
        now=now,
    )
    device_row.usage = old.usage
    project_rows = [
        _project_row(pair, site, None, p.attribution, p.phase, figures, project_id=p.project_id)
        for p, figures in zip(parts, part_figures, strict=True)
    ]
    for row, old_part in zip(project_rows, parts, strict=True):
        row.team_id = old_part.team_id
    return device_row, project_rows


def _factors_for(pair: _Pair, resolver) -> tuple[fm.HourFactors, str, list[str]]:
    """The hour's stored factors, unless none are stored or a refresh was asked for."""
    old = pair.old_fact
    if old is not None and not pair.refresh_factors:
        factors = fm.HourFactors(
            pue=old.pue,
            grid_gco2e_per_kwh=old.grid_gco2e_per_kwh,
            price_per_kwh=old.price_per_kwh,
            embodied_kgco2e_per_hour=old.embodied_kgco2e_per_hour,
        )
        notes = [n for n in old.factor_notes if n.startswith("factor:")]
        return factors, old.grid_source, notes
    resolved = resolver.for_device_hour(pair.device, pair.hour)
    return resolved.factors, resolved.grid_source, [f"factor: {n}" for n in resolved.notes]


def _device_row(
    pair, site, figures, factors, grid_source, notes, *, measured_seconds, util_mean_pct, now
):
    return HourlyDeviceFact(
        device=pair.device,
        hour=pair.hour,
        site=site,
        measured_seconds=measured_seconds,
        coverage=fm.coverage(measured_seconds, fm.SECONDS_PER_HOUR) or 0.0,
        util_mean_pct=util_mean_pct,
        energy_it_kwh=figures.energy_it_kwh,
        energy_facility_kwh=figures.energy_facility_kwh,
        operational_kgco2e=figures.operational_kgco2e,
        embodied_kgco2e=figures.embodied_kgco2e,
        cost=figures.cost,
        gpu_hours=figures.gpu_hours,
        pue=factors.pue,
        grid_gco2e_per_kwh=factors.grid_gco2e_per_kwh,
        grid_source=grid_source[:300],
        price_per_kwh=factors.price_per_kwh,
        embodied_kgco2e_per_hour=factors.embodied_kgco2e_per_hour,
        factor_notes=notes,
        computed_at=now,
    )


def _project_row(pair, site, project, attribution, phase, figures, project_id=None):
    return HourlyProjectFact(
        device=pair.device,
        hour=pair.hour,
        project_id=project.pk if project else project_id,
        attribution=attribution,
        team_id=project.team_id if project else None,
        site=site,
        phase=phase,
        energy_it_kwh=figures.energy_it_kwh,
        energy_facility_kwh=figures.energy_facility_kwh,
        operational_kgco2e=figures.operational_kgco2e,
        embodied_kgco2e=figures.embodied_kgco2e,
        cost=figures.cost,
        gpu_hours=figures.gpu_hours,
    )


def _daily_facts_update(pairs: dict, project_rows: list[HourlyProjectFact]) -> None:
    """Keep the dashboards' daily aggregates in step with the hours just written."""
    from assessments.footprint.daily_facts import daily_facts_apply

    device_days = {(device_id, hour.astimezone(UTC).date()) for device_id, hour in pairs}
    deltas: dict = defaultdict(lambda: dict.fromkeys(MEASURE_FIELDS, 0.0))
    devices = {device_id: pair.device for (device_id, _), pair in pairs.items()}

    def add(part, sign):
        device = devices[part.device_id]
        key = (
            part.hour.astimezone(UTC).date(),
            part.project_id,
            part.team_id,
            part.site_id,
            part.phase or "",
            device.host_id,
            measurement_of(device.kind, device.source),
        )
        for name in MEASURE_FIELDS:
            deltas[key][name] += sign * getattr(part, name)

    for pair in pairs.values():
        for part in pair.old_parts or []:
            add(part, -1.0)
    for part in project_rows:
        add(part, 1.0)
    daily_facts_apply(device_days, deltas)


def _replace_facts(keys, device_rows, project_rows) -> None:
    by_hour = defaultdict(list)
    for device_id, hour in keys:
        by_hour[hour].append(device_id)
    for hour, device_ids in by_hour.items():
        HourlyProjectFact.objects.filter(hour=hour, device_id__in=device_ids).delete()
        HourlyDeviceFact.objects.filter(hour=hour, device_id__in=device_ids).delete()
    HourlyDeviceFact.objects.bulk_create(device_rows, batch_size=1000)
    HourlyProjectFact.objects.bulk_create(project_rows, batch_size=1000)


def _replace_job_facts(keys, job_rows) -> None:
    """Job facts of hours rebuilt from stored facts (raw samples gone) are kept as they are."""
    by_hour = defaultdict(list)
    for device_id, hour in keys:
        by_hour[hour].append(device_id)
    for hour, device_ids in by_hour.items():
        HourlyJobFact.objects.filter(hour=hour, device_id__in=device_ids).delete()
    HourlyJobFact.objects.bulk_create(job_rows, batch_size=1000)
