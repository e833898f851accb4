"""Footprint reads: in-service time, un-measured embodied carbon, coverage, factors, rollup state
(docs/architecture.md, 4.3).

A scope's figures are assembled in one place, assessments.footprint.scope_figures; `footprint()`
here is the read API's translation of them. This module answers the questions scope_figures asks
of the inventory: the only arithmetic done here is in assessments.footprint.footprint_math.

Rules (docs/rollup.md):
- The organisation's figure adds the embodied carbon of the in-service hours that have no
  measurement at all, so idle-but-powered hardware is never dropped. That part is unallocated.
- coverage: measured device-seconds / expected device-seconds, where expected is the in-service
  time within the period (up to now) of the devices that reported in it (for a project: the
  devices it used). Null when no device reported.
"""

import functools
import math
from collections import defaultdict
from datetime import UTC, date, datetime, time
from typing import NamedTuple

from django.core.cache import cache
from django.db.models import Case, Count, DateTimeField, F, Max, Min, Sum, When
from django.utils import timezone

from assessments.footprint import footprint_math as fm
from assessments.footprint.daily_facts import factor_ranges_combine
from assessments.footprint.in_service import in_service_figures
from assessments.models import (
    DailySiteFactors,
    HourlyDeviceFact,
    HourlyProjectFact,
    Organisation,
    Project,
    Site,
    Team,
)
from collectors.models import Device, DirtyHour

_NOT_YET = object()


def as_utc_datetime(moment: date | datetime) -> datetime:
    """A date means its midnight UTC; a naive datetime is taken as UTC."""
    if isinstance(moment, datetime):
        return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)
    return datetime.combine(moment, time(), tzinfo=UTC)


def _resolve(model, value, field: str):
    if value is None or isinstance(value, model):
        return value
    return model.objects.get(**{field: value})


def footprint(
    *,
    start: date | datetime,
    end: date | datetime,
    project: Project | str | None = None,
    team: Team | str | None = None,
    site: Site | str | None = None,
    phase: str | None = None,
) -> dict:
    """The read API's answer for a scope over [start, end): scope_figures under the API's names.

    project/team accept an instance or a slug, site an instance or a name, phase a Phase value.
    Without project, team and phase the result is the organisation's (optionally one site's)
    and adds unallocated_energy_kwh and unallocated_embodied_kgco2e.
    """
    # Imported here: scope_figures reads the in-service helpers of this module.
    from assessments.footprint.scope_figures import Scope, scope_figures

    scope = Scope.of(project=project, team=team, site=site, phase=phase)
    figures = scope_figures(scope=scope, start=start, end=end).as_footprint()
    return figures | {"currency": Organisation.get().currency}


def unmeasured_embodied(
    periods, *, site: Site | None = None, device_ids=None, read=None
) -> list[float]:
    """For each (start, end) period: the organisation's (or one site's, or these devices')
    embodied carbon of in-service hours that no fact measured, what scope_figures adds to a
    fleet scope's embodied carbon (and to the unallocated). read: every device's in-service
    windows, read already (in_service.InServiceRead).

    Periods of whole UTC days of the organisation or a site read the in-service windows and day
    rows the rollup keeps (assessments.footprint.in_service), all in one pass; others (and a
    set of devices) are worked out per device from the hourly facts.
    """
    periods = [(as_utc_datetime(start), as_utc_datetime(end)) for start, end in periods]
    if not periods:
        return []
    results: list[float | None] = [None] * len(periods)
    # The day rows are kept per host and site: a set of devices is worked out per device.
    whole = [
        n
        for n, (start, end) in enumerate(periods)
        if device_ids is None and (end <= start or _whole_days(start, end))
    ]
    if whole:
        found = in_service_figures(
            [(periods[n][0].date(), max(periods[n]).date()) for n in whole], site=site, read=read
        )
        for n, figures in zip(whole, found, strict=True):
            results[n] = figures.unmeasured_embodied_kgco2e
    rest = [n for n, value in enumerate(results) if value is None]
    if rest:
        # First sightings after the earliest start are read; for a later period an earlier
        # one is as good as "before the period".
        devices = _devices_in_service(min(periods[n][0] for n in rest), site, device_ids)
        today_rates: dict[int, float] = {}
        for n in rest:
            period_start, period_end = periods[n]
            results[n] = _unmeasured_embodied(
                devices, period_start, period_end, today_rates=today_rates
            )
    return results


# --- in-service time -----------------------------------------------------------------------


class InService(NamedTuple):
    """What the in-service rules need of a device (a plain row: fleets have thousands)."""

    pk: int
    # None when it does not matter: the host has a purchase date, or the device was first seen
    # before the period (its in-service time within the period does not depend on when).
    first_seen_at: datetime | None
    purchased: date | None
    decommissioned: date | None


class _DeviceRef(NamedTuple):
    pk: int
    host_id: int


def _devices_in_service(
    period_start: datetime, site: Site | None = None, device_ids=None
) -> list[InService]:
    devices = Device.objects.all()
    if site is not None:
        devices = devices.filter(host__site=site)
    if device_ids is not None:
        devices = devices.filter(pk__in=device_ids)
    # The first sighting counts only without a purchase date and within the period: reading
    # it for no other device keeps thousands of timestamps off the wire.
    seen_in_period = Case(
        When(
            host__purchased__isnull=True,
            first_seen_at__gt=period_start,
            then=F("first_seen_at"),
        ),
        default=None,
        output_field=DateTimeField(),
    )
    return [
        InService(*row)
        for row in devices.annotate(seen=seen_in_period)
        .values_list("pk", "seen", "host__purchased", "host__decommissioned")
        .order_by()
    ]


def _whole_days(period_start: datetime, period_end: datetime) -> bool:
    return all(
        (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0)
        for moment in (period_start.astimezone(UTC), period_end.astimezone(UTC))
    )


def _service_windows(
    devices, period_start: datetime, period_end: datetime
) -> dict[int, tuple[datetime, datetime]]:
    """[in service from, until) per device, as far as the period needs it.

    From: the host's purchase date if known, else the device's first sighting, or its first
    fact in the period if earlier (history pushed after registration still counts). Until: the
    host's decommissioning, else now.
    """
    needs_facts = [d.pk for d in devices if not d.purchased and d.first_seen_at is not None]
    first_fact = {}
    if needs_facts:
        first_fact = dict(
            HourlyDeviceFact.objects.filter(
                device_id__in=needs_facts, hour__gte=period_start, hour__lt=period_end
            )
            .values("device_id")
            .annotate(first=Min("hour"))
            .values_list("device_id", "first")
            .order_by()
        )
    now = timezone.now()
    as_datetime = functools.cache(as_utc_datetime)  # hosts' devices share their dates
    windows = {}
    for device in devices:
        if device.purchased:
            since = as_datetime(device.purchased)
        else:
            candidates = [device.first_seen_at or period_start, first_fact.get(device.pk)]
            since = min(c for c in candidates if c is not None)
        until = as_datetime(device.decommissioned) if device.decommissioned else now
        windows[device.pk] = (since, min(until, max(now, since)))
    return windows


def _in_service_hours(devices, period_start: datetime, period_end: datetime) -> dict[int, float]:
    """{device id: its in-service hours within the period}."""
    windows = _service_windows(devices, period_start, period_end)
    # A host's devices, and most of a fleet, share their window: each is worked out once.
    hours = functools.cache(
        lambda since, until: fm.in_service_hours(since, until, period_start, period_end)
    )
    return {pk: hours(since, until) for pk, (since, until) in windows.items()}


def _unmeasured_embodied(
    devices,
    period_start: datetime,
    period_end: datetime,
    today_rates: dict[int, float] | None = None,
) -> float:
    """Embodied carbon of in-service hours in the period that no fact measured (unallocated).

    Priced at the rate stored with the device's latest fact in the period (the rate its
    measured hours used), or the current rate for a device that did not report in it
    (today_rates: those already worked out, shared between periods).
    """
    if not devices:
        return 0.0
    in_service = _in_service_hours(devices, period_start, period_end)
    measured, latest = {}, {}
    for device_id, hours, last in (
        HourlyDeviceFact.objects.filter(
            device_id__in=[d.pk for d in devices], hour__gte=period_start, hour__lt=period_end
        )
        .values("device_id")
        .annotate(hours=Sum("gpu_hours"), last=Max("hour"))
        .values_list("device_id", "hours", "last")
        .order_by()
    ):
        measured[device_id] = hours or 0.0
        latest[device_id] = last
    rates = _stored_embodied_rates(latest)
    unmeasured = {}
    for device in devices:
        hours = in_service[device.pk] - measured.get(device.pk, 0.0)
        if hours > 0:
            unmeasured[device.pk] = hours
    # Today's rates cost a factor lookup per device: only for the devices that need one.
    rates.update(
        _current_embodied_rates(
            [pk for pk in unmeasured if pk not in rates],
            {} if today_rates is None else today_rates,
        )
    )
    return math.fsum(fm.embodied_for_hours(rates[pk], hours) for pk, hours in unmeasured.items())


def _stored_embodied_rates(latest_hours: dict) -> dict[int, float]:
    """The rate stored with each device's latest hourly fact ({device id: hour})."""
    rates = {}
    by_hour = defaultdict(list)
    for device_id, hour in latest_hours.items():
        by_hour[hour].append(device_id)
    for hour, device_ids in by_hour.items():
        rates.update(
            HourlyDeviceFact.objects.filter(hour=hour, device_id__in=device_ids).values_list(
                "device_id", "embodied_kgco2e_per_hour"
            )
        )
    return rates


# Today's embodied rates cost a factor lookup per device (hardware models, host siblings): they
# are kept in the cache for a few minutes, and forgotten whenever a host, a device or a hardware
# model is saved or deleted (embodied_rates_forget, connected in assessments.apps).
TODAY_RATES_CACHE_KEY = "footprint:today-embodied-rates"
TODAY_RATES_TTL_S = 300


def embodied_rates_forget(**kwargs) -> None:
    cache.delete(TODAY_RATES_CACHE_KEY)


def _current_embodied_rates(device_ids: list[int], known: dict[int, float]) -> dict[int, float]:
    """Today's embodied rate of these devices (added to `known`, and to the cache)."""
    wanted = [pk for pk in device_ids if pk not in known]
    if wanted:
        cached = cache.get(TODAY_RATES_CACHE_KEY) or {}
        known.update((pk, cached[pk]) for pk in wanted if pk in cached)
        missing = [pk for pk in wanted if pk not in known]
        if missing:
            from assessments.organisation.factors import embodied_for_devices

            rows = [
                _DeviceRef(*row)
                for row in Device.objects.filter(pk__in=missing).values_list("pk", "host_id")
            ]
            found = {pk: f.kgco2e_per_hour for pk, f in embodied_for_devices(rows).items()}
            known.update(found)
            cache.set(TODAY_RATES_CACHE_KEY, cached | found, TODAY_RATES_TTL_S)
    return {pk: known[pk] for pk in device_ids}


def _coverage(device_ids, period_start: datetime, period_end: datetime) -> float | None:
    if not device_ids:
        return None
    devices = _devices_in_service(period_start, device_ids=device_ids)
    in_service = _in_service_hours(devices, period_start, period_end)
    expected_s = math.fsum(in_service[d.pk] * fm.SECONDS_PER_HOUR for d in devices)
    measured_s = (
        HourlyDeviceFact.objects.filter(
            device_id__in=device_ids, hour__gte=period_start, hour__lt=period_end
        ).aggregate(seconds=Sum("measured_seconds"))["seconds"]
        or 0.0
    )
    return fm.coverage(measured_s, expected_s)


# --- rollup backlog -----------------------------------------------------------------------


def rollup_backlog() -> dict:
    """Device-hours waiting for the rollup, and how long the oldest mark has waited (s)."""
    count = DirtyHour.objects.values("device_id", "hour").distinct().count()
    oldest = DirtyHour.objects.aggregate(oldest=Min("marked_at"))["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest else None
    return {"dirty_hours": count, "oldest_age_s": age}


def rollup_status() -> dict:
    """The rollup's true lag and its last runs, from the database (any web process can serve it).

    lag_seconds: age of the oldest mark not yet processed (0 when none waits); shards: the
    figures each shard's last run stored (assessments.models.RollupShard).
    """
    from assessments.models import RollupShard

    marks = DirtyHour.objects.aggregate(count=Count("id"), oldest=Min("marked_at"))
    now = timezone.now()
    shards = [
        {
            "shard": shard.shard,
            "last_finished_at": shard.last_finished_at,
            "last_seconds": shard.last_seconds,
            "last_marks": shard.last_marks,
            "last_hours": shard.last_hours,
            "last_rows": shard.last_rows,
            "runs": shard.runs,
        }
        for shard in RollupShard.objects.order_by("shard")
    ]
    finished = [s["last_finished_at"] for s in shards if s["last_finished_at"]]
    return {
        "lag_seconds": max(0.0, (now - marks["oldest"]).total_seconds())
        if marks["oldest"]
        else 0.0,
        "pending_marks": marks["count"],
        "dirty_hours": DirtyHour.objects.values("device_id", "hour").distinct().count(),
        "last_run_at": max(finished) if finished else None,
        "shards": shards,
    }


# --- sources --------------------------------------------------------------------------------


def footprint_factors(
    *,
    start: date | datetime,
    end: date | datetime,
    project: Project | str | None = None,
    team: Team | str | None = None,
    site: Site | str | None = None,
) -> dict:
    """The factor values the period's facts were computed with, and their sources and gaps."""
    period_start, period_end = as_utc_datetime(start), as_utc_datetime(end)
    facts = HourlyDeviceFact.objects.filter(hour__gte=period_start, hour__lt=period_end)
    project = _resolve(Project, project, "slug")
    team = _resolve(Team, team, "slug")
    site = _resolve(Site, site, "name")
    if project is None and team is None and _whole_days(period_start, period_end):
        return _factors_from_days(period_start, period_end, site)
    if project is not None or team is not None:
        parts = HourlyProjectFact.objects.filter(hour__gte=period_start, hour__lt=period_end)
        if project is not None:
            parts = parts.filter(project=project)
        if team is not None:
            parts = parts.filter(team=team)
        facts = facts.filter(device_id__in=parts.values("device_id"))
    if site is not None:
        facts = facts.filter(site=site)
    rows = (
        facts.values("site__name", "site__pue_source", "site__price_source")
        .annotate(
            pue_min=Min("pue"),
            pue_max=Max("pue"),
            price_min=Min("price_per_kwh"),
            price_max=Max("price_per_kwh"),
            grid_min=Min("grid_gco2e_per_kwh"),
            grid_max=Max("grid_gco2e_per_kwh"),
        )
        .order_by("site__name")
    )
    sites = [
        {
            "site": row["site__name"],
            "pue": [row["pue_min"], row["pue_max"]],
            "pue_source": row["site__pue_source"] or "",
            "price_per_kwh": [row["price_min"], row["price_max"]],
            "price_source": row["site__price_source"] or "",
            "grid_gco2e_per_kwh": [row["grid_min"], row["grid_max"]],
        }
        for row in rows
    ]
    grid_sources = sorted(set(facts.values_list("grid_source", flat=True).distinct()))
    notes: set[str] = set()
    for note_list in facts.exclude(factor_notes=[]).values_list("factor_notes", flat=True)[:5000]:
        # The rollup prefixes notes about factors with "factor: " (they travel with them).
        notes.update(note.removeprefix("factor: ") for note in note_list)
    return {"sites": sites, "grid_sources": grid_sources, "notes": sorted(notes)}


def _factors_from_days(period_start: datetime, period_end: datetime, site: Site | None) -> dict:
    """footprint_factors() for whole days, from the site-days the rollup keeps
    (DailySiteFactors: a row per site and day, whatever the number of devices)."""
    days = DailySiteFactors.objects.filter(day__gte=period_start.date(), day__lt=period_end.date())
    if site is not None:
        days = days.filter(site=site)
    rows = days.values_list(
        "site_id",
        "pue_min",
        "pue_max",
        "price_min",
        "price_max",
        "grid_min",
        "grid_max",
        "grid_sources",
        "factor_notes",
    ).order_by()
    by_site = factor_ranges_combine(rows)
    sites = {s.pk: s for s in Site.objects.filter(pk__in=[pk for pk in by_site if pk])}
    named = []
    grid_sources: set[str] = set()
    notes: set[str] = set()
    for site_id, row in by_site.items():
        grid_sources.update(row["grid_sources"])
        # The rollup prefixes notes about factors with "factor: " (they travel with them).
        notes.update(note.removeprefix("factor: ") for note in row["factor_notes"])
        known = sites.get(site_id)
        named.append(
            {
                "site": known.name if known else None,
                "pue": [row["pue_min"], row["pue_max"]],
                "pue_source": (known.pue_source or "") if known else "",
                "price_per_kwh": [row["price_min"], row["price_max"]],
                "price_source": (known.price_source or "") if known else "",
                "grid_gco2e_per_kwh": [row["grid_min"], row["grid_max"]],
            }
        )
    named.sort(key=lambda r: (r["site"] is None, r["site"] or ""))
    return {"sites": named, "grid_sources": sorted(grid_sources), "notes": sorted(notes)}
