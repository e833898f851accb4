"""In-service time and the embodied carbon of in-service hours nothing measured, kept by the
rollup so that reads follow windows and days, not devices (docs/rollup.md, "In-service time").

The un-measured embodied carbon of a period of whole UTC days is

    sum over devices of (current rate x in-service hours in the period)        [windows]
  + sum over device-days with facts of (stored rate x un-measured hours
                                        - current rate x in-service hours)     [day rows]

DeviceInService keeps each device's window and current rate (with the rate's GPU part, its GPU
model and how the device is measured, which the ranges split embodied carbon by: class_rates,
class_windows); DailyInServiceFact keeps the second sum per host and day. Reads group the
windows in SQL (InServiceRead, one query shared by a scope's figures and ranges) and sum the
day rows, so their cost follows the hosts' distinct windows and hosts x days. The arithmetic per
device-day is footprint_math.measured_device_day.

Kept in step by:
- the rollup (in_service_days_apply, inside daily_facts_apply's transaction and its day locks):
  the touched hosts' rows of the touched days are rebuilt from their device-days;
- inventory changes (hosts, devices, hardware models: dates, site, factors, lifetimes), which
  mark hosts stale (InServiceStale; connected in assessments.apps, and called by ingest when it
  registers or renames devices): reads work a stale host out from the inventory and its
  device-days, the next rollup run rebuilds it (in_service_refresh);
- today's partial day: a row counts up to the moment it was computed, and reads extend it to
  now by the slope it stored (devices still in service, their un-measured hours growing).
"""

import functools
import operator
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q, Sum
from django.utils import timezone

from assessments.footprint import footprint_math as fm
from assessments.footprint.scope_ranges import measurement_of
from assessments.models import (
    DailyDeviceFact,
    DailyInServiceFact,
    DeviceInService,
    InServiceStale,
)
from collectors.models import Device

_LOCK_KEY = 7_401_223  # PostgreSQL advisory lock: one rebuild of stale hosts at a time


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


class Window(NamedTuple):
    device_id: int
    host_id: int
    site_id: int | None
    since: datetime | None
    until: datetime | None
    rate: float
    # What the ranges read (footprint.scope_ranges), kept with the rate they split.
    gpu_model: str = ""
    gpu_rate: float = 0.0
    measurement: str = ""


# --- marks ----------------------------------------------------------------------------------


def in_service_mark_stale(host_ids=None) -> None:
    """Mark hosts (None: every host) for a rebuild; reads work them out live until then."""
    if host_ids is None:
        InServiceStale.objects.create(host_id=None)
    else:
        InServiceStale.objects.bulk_create(InServiceStale(host_id=pk) for pk in set(host_ids))


def inventory_changed(sender, instance, **kwargs) -> None:
    """post_save / post_delete of Host, Device and HardwareModel (assessments.apps)."""
    if kwargs.get("raw"):
        return  # fixtures: rebuilt by the next rollup run anyway
    name = sender.__name__
    if name == "Host":
        in_service_mark_stale([instance.pk])
    elif name == "Device":
        # The host it was on until now too, if it moved.
        before = DeviceInService.objects.filter(device_id=instance.pk).values_list(
            "host_id", flat=True
        )
        in_service_mark_stale({instance.host_id, *before})
    else:  # a hardware model may change any device's rate (matched by name)
        in_service_mark_stale(None)


# --- building -------------------------------------------------------------------------------


def _windows(host_ids=None) -> list[Window]:
    """Windows and current rates of these hosts' devices (None: every device)."""
    from assessments.organisation.factors import embodied_for_devices

    devices = Device.objects.all()
    if host_ids is not None:
        devices = devices.filter(host_id__in=host_ids)
    rows = list(
        devices.values_list(
            "pk",
            "host_id",
            "host__site_id",
            "first_seen_at",
            "host__purchased",
            "host__decommissioned",
            "kind",
            "source",
        ).order_by()
    )
    if not rows:
        return []
    unpurchased = [row[0] for row in rows if row[4] is None]
    first_fact = {}
    if unpurchased:
        first_fact = dict(
            DailyDeviceFact.objects.filter(device_id__in=unpurchased)
            .values("device_id")
            .annotate(first=Min("first_hour"))
            .values_list("device_id", "first")
            .order_by()
        )
    factors = embodied_for_devices(_Ref(pk, host_id) for pk, host_id, *_ in rows)
    windows = []
    for pk, host_id, site_id, first_seen, purchased, decommissioned, kind, source in rows:
        since, until = fm.service_window(
            _midnight(purchased) if purchased else None,
            first_seen,
            first_fact.get(pk),
            _midnight(decommissioned) if decommissioned else None,
        )
        factor = factors.get(pk)
        gpu_rate = 0.0
        if factor is not None:
            gpu_rate = fm.embodied_kg_per_hour(factor.te_gpu, factor.l_gpu, 0.0, None, 1)
        windows.append(
            Window(
                pk,
                host_id,
                site_id,
                since,
                until,
                factor.kgco2e_per_hour if factor else 0.0,
                (factor.gpu_model or "") if factor else "",
                gpu_rate,
                measurement_of(kind, source),
            )
        )
    return windows


class _Ref(NamedTuple):
    pk: int
    host_id: int


def _facts(device_ids, first: date | None = None, last: date | None = None):
    """(device_id, day, gpu_hours, measured_seconds, stored rate, first hour) per device-day."""
    facts = DailyDeviceFact.objects.filter(device_id__in=device_ids)
    if first is not None:
        facts = facts.filter(day__gte=first)
    if last is not None:
        facts = facts.filter(day__lt=last)
    return facts.values_list(
        "device_id",
        "day",
        "gpu_hours",
        "measured_seconds",
        "last_embodied_kgco2e_per_hour",
        "first_hour",
    ).order_by()


def _day_rows(windows: dict[int, Window], facts, now: datetime) -> dict:
    """{(day, host_id): DailyInServiceFact fields} of these device-days."""
    rows: dict = {}
    devices_of: dict[int, int] = defaultdict(int)
    for window in windows.values():
        devices_of[window.host_id] += 1
    for device_id, day, gpu_hours, seconds, stored_rate, _first in facts:
        window = windows.get(device_id)
        if window is None:
            continue
        day_start_at = _midnight(day)
        counted_until = min(now, day_start_at + timedelta(days=1))
        key = (day, window.host_id)
        row = rows.get(key)
        if row is None:
            row = rows[key] = {
                "day": day,
                "host_id": window.host_id,
                "site_id": window.site_id,
                "devices": devices_of[window.host_id],
                "reported_devices": 0,
                "in_service_hours": 0.0,
                "measured_seconds": 0.0,
                "unmeasured_hours": 0.0,
                "unmeasured_kgco2e": 0.0,
                "current_rate_kgco2e": 0.0,
                "counted_until": counted_until,
                "open_devices": 0,
                "slope_kgco2e_per_hour": 0.0,
            }
        row["reported_devices"] += 1
        row["measured_seconds"] += seconds or 0.0
        if window.since is None or counted_until <= day_start_at:
            continue
        figures = fm.measured_device_day(
            window.since,
            window.until,
            day_start_at,
            counted_until,
            gpu_hours or 0.0,
            stored_rate,
            window.rate,
        )
        row["in_service_hours"] += figures.in_service_hours
        row["unmeasured_hours"] += figures.unmeasured_hours
        row["unmeasured_kgco2e"] += figures.unmeasured_kgco2e
        row["current_rate_kgco2e"] += figures.current_rate_kgco2e
        row["open_devices"] += figures.open
        row["slope_kgco2e_per_hour"] += figures.slope_kgco2e_per_hour
    return rows


def in_service_rebuild(host_ids=None) -> int:
    """Rebuild the windows and day rows of these hosts (None: every host); returns the number
    of device windows written."""
    now = timezone.now()
    windows = _windows(host_ids)
    by_device = {w.device_id: w for w in windows}
    facts = _facts(list(by_device)) if host_ids is not None else _all_facts()
    rows = _day_rows(by_device, facts.iterator(chunk_size=5000), now)
    stored = DeviceInService.objects.all()
    days = DailyInServiceFact.objects.all()
    if host_ids is not None:
        stored = stored.filter(host_id__in=host_ids)
        days = days.filter(host_id__in=host_ids)
    stored.delete()
    days.delete()
    DeviceInService.objects.bulk_create(
        (
            DeviceInService(
                device_id=w.device_id,
                host_id=w.host_id,
                site_id=w.site_id,
                since=w.since,
                until=w.until,
                kgco2e_per_hour=w.rate,
                gpu_model=w.gpu_model,
                gpu_kgco2e_per_hour=w.gpu_rate,
                measurement=w.measurement,
            )
            for w in windows
        ),
        batch_size=2000,
    )
    DailyInServiceFact.objects.bulk_create(
        (DailyInServiceFact(**row) for row in rows.values()), batch_size=2000
    )
    return len(windows)


def _all_facts():
    return DailyDeviceFact.objects.values_list(
        "device_id",
        "day",
        "gpu_hours",
        "measured_seconds",
        "last_embodied_kgco2e_per_hour",
        "first_hour",
    ).order_by()


def in_service_refresh() -> int:
    """Rebuild the hosts marked stale (the rollup calls it every run); returns hosts rebuilt
    (-1: every host)."""
    marks = list(InServiceStale.objects.values_list("pk", "host_id"))
    if not marks:
        return 0
    with transaction.atomic():
        if settings.DATABASE_IS_POSTGRES:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        host_ids = {host_id for _, host_id in marks}
        everything = None in host_ids
        in_service_rebuild(None if everything else host_ids)
        # Only the marks read above: one made meanwhile waits for the next run.
        InServiceStale.objects.filter(pk__lte=max(pk for pk, _ in marks)).delete()
    return -1 if everything else len(host_ids)


def in_service_days_apply(device_days: set[tuple[int, date]], whole_days=()) -> None:
    """Rebuild the (day, host) rows of the device-days the rollup just wrote (inside its
    transaction, under the day locks of daily_facts_apply). A device whose window is not known,
    or whose facts start before it, marks its host stale: its window changes.

    whole_days: days whose device-days are all given (daily_facts_refresh): their rows of
    hosts with no device-day left go too.
    """
    if whole_days:
        DailyInServiceFact.objects.filter(day__in=list(whole_days)).delete()
    if not device_days:
        return
    if settings.DATABASE_IS_POSTGRES:  # never beside a rebuild: it reads windows it may replace
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [_LOCK_KEY])
    device_ids = {device_id for device_id, _ in device_days}
    host_of, purchased = {}, set()
    for pk, host_id, bought in Device.objects.filter(pk__in=device_ids).values_list(
        "pk", "host_id", "host__purchased"
    ):
        host_of[pk] = host_id
        if bought is not None:
            purchased.add(pk)
    host_ids = set(host_of.values())
    windows = {
        row[0]: Window(*row)
        for row in DeviceInService.objects.filter(host_id__in=host_ids).values_list(
            "device_id", "host_id", "site_id", "since", "until", "kgco2e_per_hour"
        )
    }
    days = {day for _, day in device_days}
    wanted = {(day, host_of[device_id]) for device_id, day in device_days if device_id in host_of}
    facts = [
        row
        for row in _facts(list(windows), min(days), max(days) + timedelta(days=1))
        if (row[1], windows[row[0]].host_id) in wanted
    ]
    stale = {host_of[pk] for pk in device_ids if pk in host_of and pk not in windows}
    for device_id, _day, *_, first_hour in facts:
        window = windows[device_id]
        # Without a purchase date a device is in service from its first measured hour.
        if device_id not in purchased and first_hour is not None:
            if window.since is None or first_hour < window.since:
                stale.add(window.host_id)
    if stale:
        in_service_mark_stale(stale)
    rows = _day_rows(windows, facts, timezone.now())
    for day in sorted(days):
        DailyInServiceFact.objects.filter(
            day=day, host_id__in=[host for d, host in wanted if d == day]
        ).delete()
    DailyInServiceFact.objects.bulk_create(DailyInServiceFact(**row) for row in rows.values())


# --- reading --------------------------------------------------------------------------------


# Above this many hosts a read takes every host's rows and keeps the wanted ones in Python: a
# long IN list costs more to build, send and parse than the rows it leaves out (the whole
# organisation's ranges want every host).
LONG_IN_LIST = 100


class WindowGroup(NamedTuple):
    """Devices of one host, site, measurement and GPU model that share an in-service window."""

    host_id: int
    site_id: int | None
    measurement: str
    gpu_model: str
    since: datetime | None
    until: datetime | None
    rate: float  # the devices' summed kgCO2e per in-service hour
    gpu_rate: float  # its GPU part
    devices: int


class InServiceRead:
    """The in-service windows of a read, read once: the DeviceInService rows of the hosts not
    marked stale grouped in SQL (one query), and the windows of the stale hosts worked out live
    (as WindowGroups of one device each, in `groups` too, and as Windows in `live`).
    in_service_figures, class_rates and class_windows take one, so that a scope's figures and
    their ranges read the windows once. host_ids, device_ids: only these (None: all)."""

    def __init__(self, host_ids=None, device_ids=None):
        self.stale = set(InServiceStale.objects.values_list("host_id", flat=True))
        self.everything_stale = None in self.stale
        only = None if device_ids is None else set(device_ids)
        self.groups: list[WindowGroup] = []
        if not self.everything_stale:
            stored = DeviceInService.objects.exclude(host_id__in=self.stale)
            if host_ids is not None:
                stored = stored.filter(host_id__in=host_ids)
            if only is not None:
                stored = stored.filter(device_id__in=only)
            self.groups = [
                WindowGroup(*row)
                for row in stored.values(
                    "host_id", "site_id", "measurement", "gpu_model", "since", "until"
                )
                .annotate(
                    rate=Sum("kgco2e_per_hour"),
                    gpu=Sum("gpu_kgco2e_per_hour"),
                    devices=Count("pk"),
                )
                .values_list(
                    "host_id",
                    "site_id",
                    "measurement",
                    "gpu_model",
                    "since",
                    "until",
                    "rate",
                    "gpu",
                    "devices",
                )
                .order_by()
            ]
        if self.everything_stale:
            live_hosts = host_ids
        else:
            live_hosts = self.stale if host_ids is None else self.stale & set(host_ids)
        self.live: list[Window] = []
        if self.everything_stale or live_hosts:
            self.live = [w for w in _windows(live_hosts) if only is None or w.device_id in only]
        self.groups += [
            WindowGroup(
                w.host_id,
                w.site_id,
                w.measurement,
                w.gpu_model,
                w.since,
                w.until,
                w.rate,
                w.gpu_rate,
                1,
            )
            for w in self.live
        ]


def class_rates(
    host_ids, device_ids=None, read: InServiceRead | None = None
) -> dict[tuple[int, str], dict[str, float]]:
    """{(host id, measurement): {GPU model name: summed GPU part of the rates, None: the rest}}
    of these hosts' devices (device_ids: only these), as the rollup stored them, or worked out
    live for a host marked stale: what the ranges split embodied carbon by
    (footprint.scope_ranges). read: the windows, read already (of these devices)."""
    result: dict = defaultdict(lambda: defaultdict(float))
    host_ids = set(host_ids)
    if read is None:
        many = len(host_ids) > LONG_IN_LIST
        read = InServiceRead(None if many else host_ids, device_ids)
    for group in read.groups:
        if group.host_id not in host_ids:
            continue
        rates = result[(group.host_id, group.measurement)]
        if group.gpu_rate > 0:
            rates[group.gpu_model or ""] += group.gpu_rate
        rates[None] += max(group.rate - group.gpu_rate, 0.0)
    return result


def class_windows(
    period_start: datetime,
    period_end: datetime,
    *,
    site_id=None,
    device_ids=None,
    read: InServiceRead | None = None,
):
    """[(host id, measurement, since, until, summed rate)] of the in-service windows that
    overlap [period_start, period_end) (at one site, of these devices), as stored or worked out
    live for a host marked stale: what the ranges split un-measured embodied carbon by. read:
    the windows, read already (of these devices)."""
    read = read if read is not None else InServiceRead(None, device_ids)
    return [
        (g.host_id, g.measurement, g.since, g.until, g.rate)
        for g in read.groups
        if g.since is not None
        and g.since < period_end
        and g.rate > 0
        and (g.until is None or g.until > period_start)
        and (site_id is None or g.site_id == site_id)
    ]


class InServiceFigures(NamedTuple):
    unmeasured_embodied_kgco2e: float
    measured_seconds: float
    # In-service seconds of the devices that reported in the period (None unless asked).
    expected_seconds: float | None
    reported: bool


def in_service_figures(
    periods: list[tuple[date, date]],
    *,
    site=None,
    with_coverage: bool = False,
    read: InServiceRead | None = None,
) -> list[InServiceFigures]:
    """For each period of whole UTC days [start, end): the embodied carbon of in-service hours
    nothing measured, the measured seconds and (with_coverage) the in-service seconds of the
    devices that reported. site: that site's hosts only. read: every device's windows, read
    already."""
    if not periods:
        return []
    now = timezone.now()
    lo, hi = min(p[0] for p in periods), max(p[1] for p in periods)
    read = read if read is not None else InServiceRead()
    stale, everything_stale = read.stale, read.everything_stale
    site_id = getattr(site, "pk", site)

    # (since, until): [summed rate, devices] of the site's (or every) window, stored or live.
    by_window: dict[tuple, list] = defaultdict(lambda: [0.0, 0])
    for group in read.groups:
        if group.since is not None and (site_id is None or group.site_id == site_id):
            window = by_window[(group.since, group.until)]
            window[0] += group.rate
            window[1] += group.devices
    windows = [
        (since, until, rate, devices) for (since, until), (rate, devices) in by_window.items()
    ]
    day_sums: dict[date, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    partial: list[tuple] = []  # (day, counted_until, slope)
    live_windows: list[Window] = []
    live_reported: dict[date, set[int]] = defaultdict(set)
    if not everything_stale:
        # The periods' own days, not every day between the first and the last (a month and the
        # same month a year earlier).
        in_periods = functools.reduce(
            operator.or_, (Q(day__gte=first, day__lt=last) for first, last in periods)
        )
        days = DailyInServiceFact.objects.filter(in_periods).exclude(host_id__in=stale)
        if site_id is not None:
            days = days.filter(site_id=site_id)
        still_open = Q(open_devices__gt=0, counted_until__lt=now)
        any_open = False
        for day, correction, seconds, reported, open_rows in (
            days.values("day")
            .annotate(
                correction=Sum(F("unmeasured_kgco2e") - F("current_rate_kgco2e")),
                seconds=Sum("measured_seconds"),
                reported=Sum("reported_devices"),
                open_rows=Count("pk", filter=still_open),
            )
            .values_list("day", "correction", "seconds", "reported", "open_rows")
            .order_by()
        ):
            day_sums[day][0] += correction or 0.0
            day_sums[day][1] += seconds or 0.0
            day_sums[day][2] += reported or 0
            any_open = any_open or bool(open_rows)
        if any_open:  # days still counting (today's): their devices' hours since
            partial = list(
                days.filter(still_open)
                .values("day", "counted_until")
                .annotate(slope=Sum("slope_kgco2e_per_hour"))
                .values_list("day", "counted_until", "slope")
                .order_by()
            )
    if stale:
        live_windows = read.live
        if site_id is not None:
            live_windows = [w for w in live_windows if w.site_id == site_id]
        by_device = {w.device_id: w for w in live_windows}
        facts = list(_facts(list(by_device), lo, hi))
        for row in _day_rows(by_device, facts, now).values():
            sums = day_sums[row["day"]]
            sums[0] += row["unmeasured_kgco2e"] - row["current_rate_kgco2e"]
            sums[1] += row["measured_seconds"]
            sums[2] += row["reported_devices"]
            if row["open_devices"] and row["counted_until"] < now:
                partial.append((row["day"], row["counted_until"], row["slope_kgco2e_per_hour"]))
        for device_id, day, *_ in facts:
            live_reported[day].add(device_id)

    results = []
    for first, last in periods:
        start, end = _midnight(first), _midnight(last)
        if end <= start:
            results.append(InServiceFigures(0.0, 0.0, None, False))
            continue
        embodied, all_seconds = [], []
        for since, until, rate, devices in windows:
            hours = fm.in_service_hours(since, fm.service_end(since, until, now), start, end)
            embodied.append(fm.embodied_for_hours(rate, hours))
            all_seconds.append(hours * devices * fm.SECONDS_PER_HOUR)
        in_days = [sums for day, sums in day_sums.items() if first <= day < last]
        for day, counted_until, slope in partial:
            if first <= day < last:
                stop = min(now, _midnight(day) + timedelta(days=1))
                extra = (stop - counted_until).total_seconds() / fm.SECONDS_PER_HOUR
                if extra > 0:
                    embodied.append(slope * extra)
        embodied.extend(sums[0] for sums in in_days)
        measured = sum(sums[1] for sums in in_days)
        reported = any(sums[2] for sums in in_days)
        expected = None
        if with_coverage:
            silent = _silent_seconds(
                first,
                last,
                start,
                end,
                now,
                stale,
                everything_stale,
                site_id,
                live_windows,
                live_reported,
            )
            expected = max(0.0, sum(all_seconds) - silent)
        results.append(InServiceFigures(sum(embodied), measured, expected, reported))
    return results


def _silent_seconds(
    first, last, start, end, now, stale, everything_stale, site_id, live_windows, live_reported
) -> float:
    """In-service seconds of the devices with no fact in the period (coverage leaves them out)."""
    silent = []
    if not everything_stale:
        stored = DeviceInService.objects.filter(since__isnull=False).exclude(host_id__in=stale)
        if site_id is not None:
            stored = stored.filter(site_id=site_id)
        # Every device of a host with a day in the period on which all of them reported did
        # report: only the other hosts' devices are looked up one by one.
        full = DailyInServiceFact.objects.filter(
            day__gte=first, day__lt=last, reported_devices__gte=F("devices")
        ).values("host_id")
        reported = DailyDeviceFact.objects.filter(
            device_id=OuterRef("device_id"), day__gte=first, day__lt=last
        )
        silent = list(
            stored.exclude(host_id__in=full).filter(~Exists(reported)).values_list("since", "until")
        )
    in_period = set()
    for day, device_ids in live_reported.items():
        if first <= day < last:
            in_period |= device_ids
    silent += [
        (w.since, w.until)
        for w in live_windows
        if w.since is not None and w.device_id not in in_period
    ]
    return sum(
        fm.in_service_hours(since, fm.service_end(since, until, now), start, end)
        * fm.SECONDS_PER_HOUR
        for since, until in silent
    )


__all__ = [
    "InServiceFigures",
    "in_service_days_apply",
    "in_service_figures",
    "in_service_mark_stale",
    "in_service_rebuild",
    "in_service_refresh",
    "inventory_changed",
]
