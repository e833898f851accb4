"""The rollup: recompute dirty (device, hour) pairs from raw samples into hourly facts.

Ingest marks every (device, hour) its samples touch in DirtyHour. One batch here:

1. claims up to `batch_size` dirty rows in one transaction (on PostgreSQL with
   SELECT ... FOR UPDATE SKIP LOCKED, so two workers never take the same hour; SQLite serialises
   writing transactions, so there the second worker simply waits);
2. sums energy and time per (device, hour, segment, tag set) from the raw samples: one SQL
   statement on PostgreSQL (set-based, fast), the same sums in Python on SQLite
   (`footprint_math.split_sample`); segments are the hour cut at allocation boundaries;
3. attributes and prices them with `footprint_math` (the only place the formulas live), using the
   factors stored with the hour's existing fact unless a refresh was asked for;
4. deletes and re-inserts the hour's facts, and deletes a dirty row only if its marked_at is
   unchanged since it was read, so a sample arriving meanwhile re-dirties its hour.

Hours older than the raw-sample retention keep the energy and time stored in their facts (their
samples may be partly deleted); recomputing them only re-prices them.
"""

import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from assessments.footprint import footprint_math as fm
from assessments.models import (
    Allocation,
    AttributionRule,
    HourlyDeviceFact,
    HourlyJobFact,
    HourlyProjectFact,
    Phase,
    Project,
)
from assessments.organisation import attribution
from assessments.organisation.factor_resolver import FactorResolver
from collectors.models import Device, DirtyHour, RawSample

logger = logging.getLogger(__name__)

# Ingest refuses intervals longer than an hour, so a sample ending more than 2 h after an hour
# starts cannot reach into it: this bounds the index range scanned per hour.
MAX_INTERVAL_S = 3600
HOUR = timedelta(hours=1)
# Device-hours per batch: a batch holds its dirty rows locked while it works, and an ingest
# re-marking one of them waits, so batches stay around a second or two of work.
DEFAULT_BATCH_SIZE = 500
SQLITE_MAX_BATCH = 50  # device-hours per transaction on SQLite
PHASES = frozenset(Phase.values)


@dataclass
class RollupResult:
    batches: int = 0
    hours: int = 0
    device_facts: int = 0
    project_facts: int = 0
    failed: int = 0  # device-hours left dirty because recomputing them failed
    seconds: float = 0.0

    def add(self, other: "RollupResult") -> None:
        self.batches += other.batches
        self.hours += other.hours
        self.device_facts += other.device_facts
        self.project_facts += other.project_facts


def rollup_dirty_hours(
    *, batch_size: int = DEFAULT_BATCH_SIZE, max_batches: int | None = None
) -> RollupResult:
    """Process dirty hours in batches until none is left (or max_batches were done).

    A batch that fails is retried hour by hour; an hour that fails on its own is logged, left
    dirty (visible as a rollup backlog) and skipped for the rest of this run, so one bad hour
    never holds up the others.
    """
    if connection.vendor == "sqlite":
        # A batch holds SQLite's single write lock while it works: keep ingest waiting briefly.
        batch_size = min(batch_size, SQLITE_MAX_BATCH)
    started = time.monotonic()
    total = RollupResult()
    failed: set[int] = set()
    while max_batches is None or total.batches < max_batches:
        try:
            result = rollup_batch(batch_size=batch_size, skip=failed)
        except Exception:
            logger.exception("rollup batch failed; retrying its hours one by one")
            result = _rollup_one_by_one(batch_size, failed)
        if result.hours == 0 and result.failed == 0:
            break
        total.add(result)
    total.failed = len(failed)
    total.seconds = time.monotonic() - started
    return total


def rollup_batch(*, batch_size: int, skip: set[int] = frozenset()) -> RollupResult:
    """Claim, recompute and release one batch of dirty hours, in one transaction."""
    with transaction.atomic():
        claimed = _claim_dirty_hours(batch_size, skip)
        if not claimed:
            return RollupResult()
        device_facts, project_facts = _recompute(claimed)
        _release(claimed)
    _refresh_daily_aggregates(claimed)
    return RollupResult(
        batches=1, hours=len(claimed), device_facts=device_facts, project_facts=project_facts
    )


def _rollup_one_by_one(batch_size: int, failed: set[int]) -> RollupResult:
    total = RollupResult(batches=1)
    for _ in range(batch_size):
        try:
            with transaction.atomic():
                claimed = _claim_dirty_hours(1, failed)
                if not claimed:
                    break
                try:
                    device_facts, project_facts = _recompute(claimed)
                except Exception:
                    row = claimed[0]
                    logger.exception(
                        "rollup of device %s, hour %s failed; left dirty", row.device_id, row.hour
                    )
                    failed.add(row.pk)
                    total.failed += 1
                    raise _Skip from None
                _release(claimed)
        except _Skip:
            continue
        _refresh_daily_aggregates(claimed)
        total.hours += 1
        total.device_facts += device_facts
        total.project_facts += project_facts
    return total


class _Skip(Exception):
    """Rolls back the transaction of one failed hour."""


# --- claiming and releasing ---------------------------------------------------------------


def _claim_dirty_hours(batch_size: int, skip: set[int] = frozenset()) -> list[DirtyHour]:
    rows = DirtyHour.objects.order_by("hour", "device_id")
    if skip:
        rows = rows.exclude(pk__in=skip)
    if connection.vendor == "postgresql":
        rows = rows.select_for_update(skip_locked=True)
    return list(rows[:batch_size])


def _release(claimed: list[DirtyHour]) -> None:
    """Delete the dirty rows whose marked_at did not change while we worked."""
    for offset in range(0, len(claimed), 500):
        unchanged = Q()
        for row in claimed[offset : offset + 500]:
            unchanged |= Q(pk=row.pk, marked_at=row.marked_at)
        DirtyHour.objects.filter(unchanged).delete()


def _refresh_daily_aggregates(claimed: list[DirtyHour]) -> None:
    """Keep the dashboards' daily aggregates (assessments.footprint.daily_facts) in step with the
    hours."""
    try:
        from assessments.footprint.daily_facts import daily_facts_refresh
    except ImportError:  # the dashboards' aggregates are optional for the rollup
        return
    hours = sorted({row.hour for row in claimed})
    daily_facts_refresh(start=hours[0], end=hours[-1] + HOUR)


# --- recomputing ---------------------------------------------------------------------------


@dataclass
class _Pair:
    device: Device
    hour: datetime
    refresh_factors: bool
    segments: list[tuple[float, float]]
    segment_projects: list[tuple[str, ...]]  # allocated project slugs per segment
    old_fact: HourlyDeviceFact | None = None
    old_parts: list[HourlyProjectFact] | None = None


def _recompute(claimed: list[DirtyHour]) -> tuple[int, int]:
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
        pairs[(device.pk, row.hour)] = _Pair(
            device, row.hour, row.refresh_factors, segments, segment_projects
        )

    _attach_old_facts(pairs)
    if connection.vendor == "postgresql":
        sums = _usage_sums_sql(pairs)
    else:
        sums = _usage_sums_python(pairs)

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
        use_stored = pair.old_fact is not None and (
            not pair_sums
            or (pair.hour + HOUR <= retention_cutoff and _lost_samples(pair, pair_sums))
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
    return len(device_rows), len(project_rows)


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


def _usage_sums_python(pairs: dict) -> dict:
    """{(device_id, hour): {(segment index, tags json): UsageSums}} computed in Python."""
    sums: dict = defaultdict(lambda: defaultdict(fm.UsageSums))
    hours_by_device = defaultdict(list)
    for device_id, hour in pairs:
        hours_by_device[device_id].append(hour)
    for device_id, hours in hours_by_device.items():
        wanted = {hour.timestamp(): hour for hour in hours}
        for first, last in _runs(sorted(hours)):
            samples = RawSample.objects.filter(
                device_id=device_id,
                ts__gt=first,
                ts__lt=last + HOUR + timedelta(seconds=MAX_INTERVAL_S),
            ).values_list("ts", "duration_s", "energy_j", "util_pct", "tags", "jobs")
            _add_samples(sums, pairs, device_id, wanted, samples.iterator(chunk_size=5000))
    return sums


def _runs(hours: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Consecutive hours grouped into (first, last) runs, so each run is one range query."""
    runs = []
    for hour in hours:
        if runs and hour - runs[-1][1] <= HOUR:
            runs[-1][1] = hour
        else:
            runs.append([hour, hour])
    return [(first, last) for first, last in runs]


def _add_samples(sums, pairs, device_id, wanted, samples) -> None:
    for ts, duration_s, energy_j, util_pct, tags, jobs in samples:
        ts_s = ts.timestamp()
        tags_key = json.dumps(tags, sort_keys=True) if tags else None
        jobs_key = json.dumps(jobs, sort_keys=True) if jobs else None
        for hour_s in fm.hours_touched(ts_s, duration_s):
            hour = wanted.get(hour_s)
            if hour is None:
                continue
            pair = pairs[(device_id, hour)]
            for index, seconds, joules in fm.split_sample(
                ts_s, duration_s, energy_j, pair.segments
            ):
                sums[(device_id, hour)][(index, tags_key, jobs_key)].add(joules, seconds, util_pct)


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
                         %(s0)s::float8[], %(s1)s::float8[])
        AS s(seg_id, device_id, seg_start, seg_end, s0, s1)
), main AS (
    SELECT seg.seg_id, r.tags, r.jobs,
           sum(r.energy_j) AS energy,
           coalesce(sum(r.duration_s) FILTER (WHERE r.duration_s > 0), 0.0) AS seconds,
           coalesce(sum(r.util_pct * r.duration_s) FILTER (WHERE r.duration_s > 0), 0.0)
               AS util_x_s,
           coalesce(sum(r.duration_s)
                    FILTER (WHERE r.duration_s > 0 AND r.util_pct IS NOT NULL), 0.0) AS util_s
    FROM seg
    JOIN collectors_rawsample r
      ON r.device_id = seg.device_id AND r.ts > seg.seg_start AND r.ts <= seg.seg_end
    GROUP BY seg.seg_id, r.tags, r.jobs
), edge AS (
    -- Counted whole in `main` but started before the segment: take off the part before s0.
    SELECT seg.seg_id, h.tags, h.jobs, h.util_pct, h.energy_j, h.duration_s,
           -(seg.s0 - (date_part('epoch', h.ts) - h.duration_s)) AS seconds
    FROM seg CROSS JOIN LATERAL (
        SELECT ts, tags, jobs, util_pct, energy_j, duration_s FROM collectors_rawsample
        WHERE device_id = seg.device_id AND ts > seg.seg_start AND ts <= seg.seg_end
        ORDER BY ts LIMIT %(edge_rows)s
    ) h
    WHERE h.duration_s > 0 AND date_part('epoch', h.ts) - h.duration_s < seg.s0
    UNION ALL
    -- Ends after the segment but starts before its end: add the part inside.
    SELECT seg.seg_id, t.tags, t.jobs, t.util_pct, t.energy_j, t.duration_s,
           seg.s1 - greatest(date_part('epoch', t.ts) - t.duration_s, seg.s0) AS seconds
    FROM seg CROSS JOIN LATERAL (
        SELECT ts, tags, jobs, util_pct, energy_j, duration_s FROM collectors_rawsample
        WHERE device_id = seg.device_id AND ts > seg.seg_end
          AND ts < seg.seg_end + make_interval(secs => %(max_interval)s)
        ORDER BY ts LIMIT %(edge_rows)s
    ) t
    WHERE t.duration_s > 0 AND date_part('epoch', t.ts) - t.duration_s < seg.s1
), edge_sums AS (
    SELECT seg_id, tags, jobs,
           sum(energy_j * seconds / duration_s) AS energy,
           sum(seconds) AS seconds,
           coalesce(sum(util_pct * seconds), 0.0) AS util_x_s,
           coalesce(sum(seconds) FILTER (WHERE util_pct IS NOT NULL), 0.0) AS util_s
    FROM edge
    GROUP BY seg_id, tags, jobs
)
SELECT seg_id, tags::text, jobs::text, sum(energy), sum(seconds), sum(util_x_s), sum(util_s)
FROM (SELECT * FROM main UNION ALL SELECT * FROM edge_sums) AS sums
GROUP BY seg_id, tags, jobs
"""


def _usage_sums_sql(pairs: dict) -> dict:
    """The same sums as _usage_sums_python, computed by PostgreSQL in one statement."""
    segments = []  # seg_id -> (pair key, segment index)
    device_ids, starts, ends, s0, s1 = [], [], [], [], []
    for (device_id, hour), pair in pairs.items():
        for index, (seg_start, seg_end) in enumerate(pair.segments):
            segments.append(((device_id, hour), index))
            device_ids.append(device_id)
            starts.append(datetime.fromtimestamp(seg_start, UTC))
            ends.append(datetime.fromtimestamp(seg_end, UTC))
            s0.append(seg_start)
            s1.append(seg_end)
    sums: dict = defaultdict(dict)
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
                "max_interval": float(MAX_INTERVAL_S),
                "edge_rows": EDGE_ROWS,
            },
        )
        for seg_id, tags, jobs, energy, seconds, util_x_s, util_s in cursor.fetchall():
            key, index = segments[seg_id]
            tags_key = json.dumps(json.loads(tags), sort_keys=True) if tags else None
            jobs_key = json.dumps(json.loads(jobs), sort_keys=True) if jobs else None
            sums[key][(index, tags_key, jobs_key)] = fm.UsageSums(energy, seconds, util_x_s, util_s)
    return sums


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
