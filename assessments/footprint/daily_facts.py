"""Rebuild the daily aggregates (DailyProjectFact, DailyRangeFact, DailyHostRangeFact,
DailyDeviceFact) from the hourly facts.

The rollup keeps them in step as it writes hours (daily_facts_apply, in its own transaction): the
touched devices' days are rebuilt from their hourly facts (at most 24 rows each) and the
projects' days change by the difference between the new and the old project facts, so the work
follows the hours written, not the size of the day. daily_facts_refresh() rebuilds whole days
(idempotent: the days' rows are deleted and recomputed in one transaction); it takes the lock
exclusively, the rollup's updates share it.

DailySiteFactors (the factor ranges, sources and notes per site-day) is rebuilt from a changed
day's DailyDeviceFact rows at the end of the same transaction. Rollups of different shards may
change one day at once, so the rebuild takes that day's lock exclusively and holds it to the
commit: a rebuild then always starts after the previous one committed and sees its device rows
(READ COMMITTED reads what was committed when each statement starts).
"""

from datetime import UTC, date, datetime, time, timedelta
from itertools import islice

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    F,
    FloatField,
    IntegerField,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate

from assessments.footprint.footprint_math import IDLE_UTIL_PCT
from assessments.footprint.scope_ranges import measurement_of
from assessments.models import (
    MEASURE_FIELDS,
    DailyDeviceFact,
    DailyHostRangeFact,
    DailyProjectFact,
    DailyRangeFact,
    DailySiteFactors,
    HourlyDeviceFact,
    HourlyProjectFact,
)

_LOCK_KEY = 7_401_221  # PostgreSQL advisory lock: two refreshes never interleave a day.
_SITE_FACTORS_LOCK = 7_401_222  # with the day's ordinal: one site-factors rebuild per day at once


def days_touching(start: datetime, end: datetime) -> list[date]:
    """UTC days that overlap [start, end)."""
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(first, time(), tzinfo=UTC),
        datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC),
    )


def daily_facts_refresh(*, start: datetime, end: datetime) -> int:
    """Recompute every UTC day overlapping [start, end); returns the number of days rebuilt."""
    if end <= start:
        return 0
    days = days_touching(start, end)
    day_start, day_end = _day_bounds(days[0], days[-1])
    with transaction.atomic():
        if settings.DATABASE_IS_POSTGRES:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        DailyProjectFact.objects.filter(day__gte=days[0], day__lte=days[-1]).delete()
        DailyRangeFact.objects.filter(day__gte=days[0], day__lte=days[-1]).delete()
        DailyHostRangeFact.objects.filter(day__gte=days[0], day__lte=days[-1]).delete()
        DailyDeviceFact.objects.filter(day__gte=days[0], day__lte=days[-1]).delete()
        DailyProjectFact.objects.bulk_create(_project_days(day_start, day_end), batch_size=2000)
        _range_days_create(day_start, day_end)
        DailyDeviceFact.objects.bulk_create(_device_days(day_start, day_end), batch_size=2000)
        site_factors_rebuild(days)
        # The in-service rows of the same days, from the device-days just rebuilt.
        from assessments.footprint.in_service import in_service_days_apply

        in_service_days_apply(
            set(
                DailyDeviceFact.objects.filter(day__gte=days[0], day__lte=days[-1])
                .values_list("device_id", "day")
                .order_by()
            ),
            whole_days=days,
        )
    return len(days)


def daily_facts_apply(device_days: set[tuple[int, date]], project_deltas: dict) -> None:
    """Rebuild the (device, day) rows given and add `project_deltas`
    ({(day, project_id, team_id, site_id, phase, host_id, measurement): {measure: delta}}) to
    the projects' days (DailyProjectFact by the first five, DailyRangeFact by all seven,
    DailyHostRangeFact by day, site, host and measurement).

    Runs inside the rollup's transaction. Several rollups may add to the same project-day at once:
    a row is updated in place (rows locked in id order, so no deadlock), or added when none
    exists; readers sum the rows of a day, so two rows added at once for one key are still right.
    """
    if not device_days and not project_deltas:
        return
    if settings.DATABASE_IS_POSTGRES:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [_LOCK_KEY])
    by_day = {}
    for device_id, day in device_days:
        by_day.setdefault(day, set()).add(device_id)
    for day, device_ids in sorted(by_day.items()):
        DailyDeviceFact.objects.filter(day=day, device_id__in=device_ids).delete()
        day_start, day_end = _day_bounds(day, day)
        DailyDeviceFact.objects.bulk_create(
            _device_days(day_start, day_end, device_ids=device_ids), batch_size=2000
        )
    _add_deltas(DailyProjectFact, _PROJECT_KEY, _summed(project_deltas, _PROJECT_KEY))
    _add_deltas(DailyRangeFact, _RANGE_KEY, project_deltas)
    _add_deltas(DailyHostRangeFact, _HOST_KEY, _summed(project_deltas, _HOST_KEY))
    # Last: the day locks it takes are held to the commit, and nothing after this waits on
    # another rollup's rows. The in-service rows of the same days are rebuilt under them.
    site_factors_rebuild(by_day)
    from assessments.footprint.in_service import in_service_days_apply

    in_service_days_apply(device_days)


_PROJECT_KEY = ("day", "project_id", "team_id", "site_id", "phase")
_RANGE_KEY = (*_PROJECT_KEY, "host_id", "measurement")
_HOST_KEY = ("day", "site_id", "host_id", "measurement")


def _summed(deltas: dict, key_names: tuple[str, ...]) -> dict:
    """Deltas keyed by _RANGE_KEY, added up by fewer of its columns."""
    positions = [_RANGE_KEY.index(name) for name in key_names]
    result: dict = {}
    for key, delta in deltas.items():
        total = result.setdefault(tuple(key[p] for p in positions), dict.fromkeys(delta, 0.0))
        for name, value in delta.items():
            total[name] += value
    return result


def _range_days_create(day_start, day_end) -> None:
    """DailyRangeFact rows of these days, written a few thousand at a time, and the
    DailyHostRangeFact rows they sum to (the project keys summed away)."""
    hosts: dict = {}
    rows = _project_days(day_start, day_end, per_host=True)
    while batch := list(islice(rows, 5000)):
        DailyRangeFact.objects.bulk_create(batch)
        for row in batch:
            key = (row.day, row.site_id, row.host_id, row.measurement)
            total = hosts.setdefault(key, dict.fromkeys(MEASURE_FIELDS, 0.0))
            for name in MEASURE_FIELDS:
                total[name] += getattr(row, name)
    DailyHostRangeFact.objects.bulk_create(
        (
            DailyHostRangeFact(
                day=day, site_id=site_id, host_id=host_id, measurement=measurement, **sums
            )
            for (day, site_id, host_id, measurement), sums in hosts.items()
        ),
        batch_size=2000,
    )


def _stored_key(key_names: tuple[str, ...], key: tuple) -> tuple:
    """A key as the aggregate stores it (a blank phase is "", not None)."""
    return tuple(
        (part or "") if name == "phase" else part for name, part in zip(key_names, key, strict=True)
    )


def _add_deltas(model, key_names: tuple[str, ...], deltas: dict) -> None:
    """Add each {key: {measure: delta}} to its row of a daily aggregate (the first, where two
    rollups added one at once), or add a row where none exists: the days' rows (of the deltas'
    hosts) read once, the rows to change locked in id order (so two rollups never deadlock) and
    updated in batches."""
    deltas = {_stored_key(key_names, key): d for key, d in deltas.items() if any(d.values())}
    if not deltas:
        return
    existing: dict = {}
    rows = model.objects.filter(day__in={key[0] for key in deltas}).order_by("pk")
    if "host_id" in key_names:
        # A day holds a row per host (and project): read only the batch's hosts (every device
        # has one).
        rows = rows.filter(host_id__in={key[key_names.index("host_id")] for key in deltas})
    for pk, *key in rows.values_list("pk", *key_names):
        existing.setdefault(tuple(key), pk)
    changed, added = {}, []
    for key, delta in deltas.items():
        pk = existing.get(key)
        if pk is None:
            added.append(model(**dict(zip(key_names, key, strict=True)), **delta))
        else:
            changed[pk] = delta
    if changed:
        locked = model.objects.select_for_update().filter(pk__in=list(changed))
        list(locked.order_by("pk").values_list("pk", flat=True))
        _add_to_rows(model, changed)
    model.objects.bulk_create(added, batch_size=2000)


def _add_to_rows(model, changed: dict[int, dict[str, float]]) -> None:
    """Add {row id: {measure: delta}} to the rows: on PostgreSQL one UPDATE ... FROM (VALUES)
    per thousand rows (Django's bulk_update compares every row with every other in CASE
    expressions), elsewhere row by row."""
    if not settings.DATABASE_IS_POSTGRES:
        for pk, delta in changed.items():
            model.objects.filter(pk=pk).update(
                **{name: F(name) + value for name, value in delta.items()}
            )
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = list(MEASURE_FIELDS)
    columns = ", ".join(quote(name) for name in names)
    assignments = ", ".join(f"{quote(n)} = t.{quote(n)} + v.{quote(n)}" for n in names)
    row_sql = "(%s::bigint" + ", %s::float8" * len(names) + ")"
    items = sorted(changed.items())
    with connection.cursor() as cursor:
        for start in range(0, len(items), 1000):
            chunk = items[start : start + 1000]
            cursor.execute(
                f"UPDATE {table} AS t SET {assignments} "
                f"FROM (VALUES {', '.join([row_sql] * len(chunk))}) AS v(id, {columns}) "
                "WHERE t.id = v.id",
                [
                    value
                    for pk, delta in chunk
                    for value in (pk, *(delta.get(name, 0.0) for name in names))
                ],
            )


def site_factors_rebuild(days) -> None:
    """Rebuild DailySiteFactors of these days from their DailyDeviceFact rows (inside the
    caller's transaction)."""
    for day in sorted(set(days)):
        if settings.DATABASE_IS_POSTGRES:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", [_SITE_FACTORS_LOCK, day.toordinal()]
                )
        DailySiteFactors.objects.filter(day=day).delete()
        rows = DailyDeviceFact.objects.filter(day=day).values_list(
            "site_id", *_FACTOR_RANGES, "grid_sources", "factor_notes"
        )
        DailySiteFactors.objects.bulk_create(
            DailySiteFactors(day=day, site_id=site_id, **figures)
            for site_id, figures in factor_ranges_combine(rows.order_by()).items()
        )


_FACTOR_RANGES = ("pue_min", "pue_max", "price_min", "price_max", "grid_min", "grid_max")


def factor_ranges_combine(rows) -> dict:
    """{site_id: lowest and highest of each factor, sorted sources and notes} of rows
    (site_id, pue_min, pue_max, price_min, price_max, grid_min, grid_max, grid_sources,
    factor_notes): device-days into a site-day, or site-days into a period."""
    by_site: dict = {}
    for site_id, *ranges, sources, notes in rows:
        entry = by_site.get(site_id)
        if entry is None:
            entry = by_site[site_id] = {"grid_sources": set(), "factor_notes": set()}
            entry.update(zip(_FACTOR_RANGES, ranges, strict=True))
        else:
            for name, value in zip(_FACTOR_RANGES, ranges, strict=True):
                pick = min if name.endswith("_min") else max
                known = entry[name]
                entry[name] = (
                    value if known is None else known if value is None else pick(known, value)
                )
        entry["grid_sources"].update(sources or ())
        entry["factor_notes"].update(notes or ())
    for entry in by_site.values():
        entry["grid_sources"] = sorted(entry["grid_sources"])
        entry["factor_notes"] = sorted(entry["factor_notes"])
    return by_site


def _project_days(day_start, day_end, *, per_host: bool = False):
    """DailyProjectFact rows of these days' hourly project facts (per_host: DailyRangeFact rows,
    the same sums per host and measurement too)."""
    hours = HourlyProjectFact.objects.filter(hour__gte=day_start, hour__lt=day_end).annotate(
        day=TruncDate("hour", tzinfo=UTC)
    )
    columns = ["day", "project_id", "team_id", "site_id", "phase"]
    if per_host:
        hours = hours.annotate(
            device_host=F("device__host_id"),
            device_kind=F("device__kind"),
            device_source=F("device__source"),
        )
        columns += ["device_host", "device_kind", "device_source"]
    rows = (
        hours.values(*columns)
        .annotate(**{f"sum_{name}": Sum(name) for name in MEASURE_FIELDS})
        .order_by()
    )
    for row in rows.iterator(chunk_size=5000):
        keys = {name: row[name] for name in columns[:4]} | {"phase": row["phase"] or ""}
        sums = {name: row[f"sum_{name}"] or 0 for name in MEASURE_FIELDS}
        if not per_host:
            yield DailyProjectFact(**keys, **sums)
            continue
        yield DailyRangeFact(
            **keys,
            host_id=row["device_host"],
            measurement=measurement_of(row["device_kind"], row["device_source"]),
            **sums,
        )


def _device_days(day_start, day_end, device_ids=None):
    idle = Q(util_mean_pct__lt=IDLE_UTIL_PCT)
    hours = HourlyDeviceFact.objects.filter(hour__gte=day_start, hour__lt=day_end)
    if device_ids is not None:
        hours = hours.filter(device_id__in=device_ids)
    rows = (
        hours.annotate(day=TruncDate("hour", tzinfo=UTC))
        .values("day", "device_id")
        .annotate(
            n_hours=Count("id"),
            sum_measured_seconds=Sum("measured_seconds"),
            n_util_hours=Count("util_mean_pct"),
            sum_util=Coalesce(Sum("util_mean_pct"), Value(0.0)),
            n_idle_hours=Sum(Case(When(idle, then=1), default=0, output_field=IntegerField())),
            sum_idle_energy=Sum(
                Case(When(idle, then=F("energy_it_kwh")), default=0.0, output_field=FloatField())
            ),
            **{f"sum_{name}": Sum(name) for name in MEASURE_FIELDS},
        )
        .order_by()
    )
    details = _device_day_details(hours)
    for row in rows.iterator(chunk_size=5000):
        yield DailyDeviceFact(
            day=row["day"],
            device_id=row["device_id"],
            **details.get((row["device_id"], row["day"]), {}),
            hours=row["n_hours"],
            measured_seconds=row["sum_measured_seconds"] or 0,
            util_hours=row["n_util_hours"],
            util_pct_sum=row["sum_util"] or 0,
            idle_hours=row["n_idle_hours"] or 0,
            idle_energy_it_kwh=row["sum_idle_energy"] or 0,
            **{name: row[f"sum_{name}"] or 0 for name in MEASURE_FIELDS},
        )


def _device_day_details(hours) -> dict:
    """{(device_id, day): first and last hour, the last hour's embodied rate and site, the
    factor ranges, grid sources and notes} of these hourly facts."""
    details: dict = {}
    rows = hours.values_list(
        "device_id",
        "hour",
        "embodied_kgco2e_per_hour",
        "site_id",
        "pue",
        "price_per_kwh",
        "grid_gco2e_per_kwh",
        "grid_source",
        "factor_notes",
    ).order_by()
    for device_id, hour, rate, site_id, pue, price, grid, source, notes in rows.iterator(
        chunk_size=5000
    ):
        key = (device_id, hour.astimezone(UTC).date())
        d = details.get(key)
        if d is None:
            d = details[key] = {
                "first_hour": hour,
                "last_hour": hour,
                "last_embodied_kgco2e_per_hour": rate,
                "site_id": site_id,
                "pue_min": pue,
                "pue_max": pue,
                "price_min": price,
                "price_max": price,
                "grid_min": grid,
                "grid_max": grid,
                "grid_sources": {source},
                "factor_notes": set(notes or ()),
            }
            continue
        d["first_hour"] = min(d["first_hour"], hour)
        if hour > d["last_hour"]:
            d["last_hour"], d["last_embodied_kgco2e_per_hour"], d["site_id"] = hour, rate, site_id
        for name, value in (("pue", pue), ("price", price), ("grid", grid)):
            d[f"{name}_min"] = min(d[f"{name}_min"], value)
            d[f"{name}_max"] = max(d[f"{name}_max"], value)
        d["grid_sources"].add(source)
        d["factor_notes"].update(notes or ())
    for d in details.values():
        d["grid_sources"] = sorted(d["grid_sources"])
        d["factor_notes"] = sorted(d["factor_notes"])
    return details
