"""Work reads: a scope's work units by kind, measured work winning over posted work for the
hours the serving engine's counters cover (docs/methodology.md, "Work units and their kinds").

`work_by_kind()` is the one place that decides which work records count; footprint() and the
dashboards read it. The arithmetic is in assessments.footprint.footprint_math (KindWork,
posted_outside_measured, prorated_units).
"""

import functools
import operator
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate, TruncHour

from assessments.footprint import footprint_math as fm
from assessments.models import Project, WorkKind, WorkRecord, WorkSource


def work_by_kind(
    records, period_start: datetime, period_end: datetime
) -> dict[tuple[int, str], fm.KindWork]:
    """(project id, kind) -> KindWork over [period_start, period_end) for these WorkRecords."""
    [found] = work_by_kind_over(records, [(period_start, period_end)])
    return found


def work_by_kind_over(records, periods: list[tuple[datetime, datetime]]) -> list[dict]:
    """work_by_kind() of each (start, end) period, in at most five queries whatever their
    number (two where no record crosses a period's edge and the engine measured nothing).

    The database sums the records inside a period; records crossing its edges are prorated
    one by one, and so are the posted records of a project and kind whose engine measured
    work in the period (their units inside its measured hours are overlap). Measured records
    never cross an hour (the agent and the ingest split them), so the hours they cover are
    those their start falls in.
    """
    if len(periods) > 1 and not all(map(_on_the_hour, (t for p in periods for t in p))):
        # A period's measured hours are those of the measured records overlapping it: read
        # together, an hour split by another period's edge could count for the wrong one.
        return [work_by_kind_over(records, [period])[0] for period in periods]
    overlaps = [Q(period_start__lt=end, period_end__gt=start) for start, end in periods]
    insides = [Q(period_start__gte=start, period_end__lte=end) for start, end in periods]
    numbered = range(len(periods))
    crossing = _any(o & ~i for o, i in zip(overlaps, insides, strict=True))
    measured = records.filter(_any(overlaps), source=WorkSource.MEASURED)
    sums = [defaultdict(float) for _ in periods]
    measured_keys: list[set] = [set() for _ in periods]
    measured_crossing = 0  # records crossing a period's edge, read one by one below
    for row in (
        measured.values("project_id", "kind")
        .annotate(
            **{f"units_{n}": Sum("units", filter=overlaps[n] & insides[n]) for n in numbered},
            **{f"count_{n}": Count("pk", filter=overlaps[n]) for n in numbered},
            crossing=Count("pk", filter=crossing),
        )
        .order_by()
    ):
        key = (row["project_id"], row["kind"])
        measured_crossing += row["crossing"]
        for n in numbered:
            if row[f"count_{n}"]:
                measured_keys[n].add(key)
                sums[n][key] += row[f"units_{n}"] or 0.0
    crossing_records = measured.filter(crossing) if measured_crossing else measured.none()
    for project_id, kind, units, start, end in crossing_records.values_list(
        "project_id", "kind", "units", "period_start", "period_end"
    ):
        for n, (period_start, period_end) in enumerate(periods):
            overlaps_it = start < period_end and end > period_start
            if overlaps_it and not period_start <= start <= end <= period_end:
                sums[n][(project_id, kind)] += fm.prorated_units(
                    units, start, end, period_start, period_end
                )
    hours: dict[tuple[int, str], set[datetime]] = defaultdict(set)
    if any(measured_keys):
        for project_id, kind, hour in (
            measured.annotate(hour=TruncHour("period_start", tzinfo=UTC))
            .values_list("project_id", "kind", "hour")
            .distinct()
            .order_by()
        ):
            hours[(project_id, kind)].add(hour)
    posted = [defaultdict(lambda: [0.0, 0.0]) for _ in periods]
    # period_end >= start: a record of one instant at a period's start counts.
    posted_in = [Q(period_start__lt=end, period_end__gte=start) for start, end in periods]
    posted_records = records.filter(_any(posted_in), source=WorkSource.POSTED)
    # A posted record inside a period, of a project and kind whose engine measured nothing in
    # it, counts in full: the database sums those.
    posted_crossing = _any(o & ~i for o, i in zip(posted_in, insides, strict=True))
    posted_crossings = 0
    for row in (
        posted_records.values("project_id", "kind")
        .annotate(
            **{f"units_{n}": Sum("units", filter=posted_in[n] & insides[n]) for n in numbered},
            **{f"count_{n}": Count("pk", filter=posted_in[n] & insides[n]) for n in numbered},
            crossing=Count("pk", filter=posted_crossing),
        )
        .order_by()
    ):
        key = (row["project_id"], row["kind"])
        posted_crossings += row["crossing"]
        for n in numbered:
            if row[f"count_{n}"] and key not in measured_keys[n]:
                posted[n][key][0] += row[f"units_{n}"] or 0.0
    measured_projects = {project_id for keys in measured_keys for project_id, _ in keys}
    one_by_one = posted_records.none()
    if posted_crossings or measured_projects:
        one_by_one = posted_records.filter(posted_crossing | Q(project_id__in=measured_projects))
    for project_id, kind, units, start, end in one_by_one.values_list(
        "project_id", "kind", "units", "period_start", "period_end"
    ):
        key = (project_id, kind)
        for n, (period_start, period_end) in enumerate(periods):
            inside = period_start <= start and end <= period_end
            if inside and key not in measured_keys[n]:
                continue  # summed above
            if start >= period_end or end < period_start:
                continue  # not in this period
            counted, overlap = fm.posted_outside_measured(
                units, start, end, period_start, period_end, hours.get(key, ())
            )
            posted[n][key][0] += counted
            posted[n][key][1] += overlap
    return [
        {
            key: fm.KindWork(
                measured=sums[n].get(key, 0.0),
                posted=posted[n][key][0] if key in posted[n] else 0.0,
                overlap=posted[n][key][1] if key in posted[n] else 0.0,
            )
            for key in set(sums[n]) | set(posted[n])
        }
        for n in numbered
    ]


def _any(conditions) -> Q:
    return functools.reduce(operator.or_, conditions)


def _on_the_hour(moment: datetime) -> bool:
    moment = moment.astimezone(UTC)
    return (moment.minute, moment.second, moment.microsecond) == (0, 0, 0)


def declared_work_units(
    by_kind: dict[tuple[int, str], fm.KindWork], projects: dict | None = None
) -> tuple[dict[int, float], set[str]]:
    """Per project id, the units of its declared kind (what its work_units and SCI count); and
    the names of the units of the projects that have some. projects: declared_kinds() of
    them, read already."""
    if projects is None:
        projects = declared_kinds({pk for pk, _ in by_kind})
    units: dict[int, float] = defaultdict(float)
    names = set()
    for (pk, kind), work in by_kind.items():
        declared, name = projects.get(pk, ("other", ""))
        if kind == declared and work.units > 0:
            units[pk] += work.units
            names.add(name)
    return dict(units), names


def declared_kinds(project_ids) -> dict[int, tuple[str, str]]:
    """{project id: (declared kind of work, unit name)}."""
    if not project_ids:
        return {}
    return {
        pk: (kind, name)
        for pk, kind, name in Project.objects.filter(pk__in=project_ids).values_list(
            "pk", "work_kind", "work_unit"
        )
    }


def units_by_kind(by_kind: dict[tuple[int, str], fm.KindWork]) -> dict[str, float]:
    """Units per kind over the projects (requests with requests, never with tokens)."""
    totals: dict[str, float] = defaultdict(float)
    for (_, kind), work in by_kind.items():
        totals[kind] += work.units
    return dict(totals)


def scope_work(records, period_start: datetime, period_end: datetime) -> dict:
    """work_units (declared kinds), per project id those units ("declared"), the unit names,
    work_units_by_kind and per kind the measured, posted and overlapping units, for the
    footprint of a scope."""
    [found] = scope_work_over(records, [(period_start, period_end)])
    return found


def scope_work_over(records, periods: list[tuple[datetime, datetime]]) -> list[dict]:
    """scope_work() of each (start, end) period, read once for all of them."""
    by_kinds = work_by_kind_over(records, periods)
    projects = declared_kinds({pk for by_kind in by_kinds for pk, _ in by_kind})
    return [_work_of(by_kind, projects) for by_kind in by_kinds]


def _work_of(by_kind: dict, projects: dict) -> dict:
    per_project, names = declared_work_units(by_kind, projects)
    detail: dict[str, fm.KindWork] = {}
    for (_, kind), work in by_kind.items():
        known = detail.get(kind, fm.KindWork())
        detail[kind] = fm.KindWork(
            known.measured + work.measured, known.posted + work.posted, known.overlap + work.overlap
        )
    return {
        "work_units": sum(per_project.values()),
        "declared": per_project,
        "unit_names": names,
        "work_units_by_kind": units_by_kind(by_kind),
        "work_by_kind": {
            kind: {
                "measured": work.measured,
                "posted": work.posted,
                "overlap": work.overlap,
                "source": work.source,
            }
            for kind, work in sorted(detail.items())
        },
    }


def serving_figures(figures: dict) -> dict | None:
    """Energy and carbon per 1,000 requests and per 1 M output tokens of a footprint (IT energy,
    operational + embodied carbon), with the source of each work figure; None where the scope
    has neither requests nor output tokens."""
    by_kind = figures["work_units_by_kind"]
    requests = by_kind.get("requests", 0.0)
    output_tokens = by_kind.get("output_tokens", 0.0)
    if requests <= 0 and output_tokens <= 0:
        return None
    sources = figures["work_by_kind"]
    return {
        "requests": requests,
        "input_tokens": by_kind.get("input_tokens", 0.0),
        "output_tokens": output_tokens,
        "requests_source": (sources.get("requests") or {}).get("source"),
        "output_tokens_source": (sources.get("output_tokens") or {}).get("source"),
        **fm.per_thousand_and_million(
            figures["energy_kwh"], figures["total_kgco2e"], requests, output_tokens
        ),
    }


def project_work_panel(*, project, start: datetime, end: datetime, totals: dict) -> dict:
    """What the project page shows of its work over [start, end): per kind the counted,
    measured, posted and overlapping units, and the per-request and per-token figures of
    totals (the page's energy_it_kwh and total_kgco2e)."""
    work = scope_work(WorkRecord.objects.filter(project=project), start, end)
    figures = {
        "work_units_by_kind": work["work_units_by_kind"],
        "work_by_kind": work["work_by_kind"],
        "energy_kwh": totals["energy_it_kwh"],
        "total_kgco2e": totals["total_kgco2e"],
    }
    kinds = [
        {
            "kind": kind,
            "label": WorkKind(kind).label,
            "counted": work["work_units_by_kind"].get(kind, 0.0),
            "declared": kind == project.work_kind,
            **detail,
        }
        for kind, detail in work["work_by_kind"].items()
    ]
    kinds.sort(key=lambda row: not row["declared"])  # the project's own kind first
    return {
        "kinds": kinds,
        "overlap": any(row["overlap"] > 0 for row in kinds),
        "serving": serving_figures(figures),
    }


def declared_units_by_day(*, project, start: date, end: date) -> dict[date, float]:
    """Units of the project's declared kind per UTC day in [start, end), measured work winning
    over posted work for the hours it covers (as work_by_kind, day by day)."""
    lo, hi = fm.day_start(start), fm.day_start(end)
    records = WorkRecord.objects.filter(project=project, kind=project.work_kind)
    # Measured records lie within one clock hour, hence within one day.
    measured = records.filter(source=WorkSource.MEASURED, period_start__gte=lo, period_start__lt=hi)
    result: dict[date, float] = defaultdict(float)
    for day, units in (
        measured.annotate(day=TruncDate("period_start", tzinfo=UTC))
        .values("day")
        .annotate(units=Sum("units"))
        .values_list("day", "units")
        .order_by()
    ):
        result[day] += units or 0.0
    hours_by_day: dict[date, list[datetime]] = defaultdict(list)
    for hour in (
        measured.annotate(hour=TruncHour("period_start", tzinfo=UTC))
        .values_list("hour", flat=True)
        .distinct()
        .order_by()
    ):
        hours_by_day[hour.astimezone(UTC).date()].append(hour)
    posted = records.filter(source=WorkSource.POSTED, period_start__lt=hi, period_end__gte=lo)
    for units, record_start, record_end in posted.values_list(
        "units", "period_start", "period_end"
    ):
        day = max(record_start, lo).astimezone(UTC).date()
        last = min(max(record_end, record_start), hi).astimezone(UTC).date()
        while day <= last and day < end:
            counted, _ = fm.posted_outside_measured(
                units,
                record_start,
                record_end,
                fm.day_start(day),
                fm.day_start(day + timedelta(days=1)),
                hours_by_day.get(day, ()),
            )
            if counted:
                result[day] += counted
            day += timedelta(days=1)
    return dict(result)
