"""Footprint reads: totals over a period from the hourly facts (DESIGN 3.3).

`footprint()` is what the read API, the dashboards and the monthly report all show, so they agree.
It sums the hourly facts the rollup wrote; the only arithmetic done here is in
assessments.footprint.footprint_math (work units pro rata, SCI, embodied of un-measured hours,
coverage).

Rules (docs/rollup.md):
- A project, team or phase figure sums its HourlyProjectFact rows: tags, allocations.
- The organisation figure sums HourlyDeviceFact rows (which equal the sum of all project facts,
  unallocated included) and adds the embodied carbon of the in-service hours that have no
  measurement at all, so idle-but-powered hardware is never dropped. That part is unallocated.
- coverage: measured device-seconds / expected device-seconds, where expected is the in-service
  time within the period (up to now) of the devices that reported in it (for a project: the
  devices it used). Null when no device reported.
"""

import math
from collections import defaultdict
from datetime import UTC, date, datetime, time

from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from assessments.footprint import footprint_math as fm
from assessments.models import (
    HourlyDeviceFact,
    HourlyProjectFact,
    Organisation,
    Project,
    Site,
    Team,
    WorkRecord,
)
from collectors.models import Device, DirtyHour

FIGURE_FIELDS = (
    "energy_it_kwh",
    "energy_facility_kwh",
    "operational_kgco2e",
    "embodied_kgco2e",
    "cost",
    "gpu_hours",
)


def as_utc_datetime(moment: date | datetime) -> datetime:
    """A date means its midnight UTC; a naive datetime is taken as UTC."""
    if isinstance(moment, datetime):
        return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)
    return datetime.combine(moment, time(), tzinfo=UTC)


def _resolve(model, value, field: str):
    if value is None or isinstance(value, model):
        return value
    return model.objects.get(**{field: value})


def _sums(queryset) -> dict[str, float]:
    totals = queryset.aggregate(**{name: Sum(name) for name in FIGURE_FIELDS})
    return {name: totals[name] or 0.0 for name in FIGURE_FIELDS}


def footprint(
    *,
    start: date | datetime,
    end: date | datetime,
    project: Project | str | None = None,
    team: Team | str | None = None,
    site: Site | str | None = None,
    phase: str | None = None,
) -> dict:
    """Energy, carbon, cost, GPU-hours, work units, SCI and coverage over [start, end).

    project/team accept an instance or a slug, site an instance or a name, phase a Phase value.
    Without project, team and phase the result is the organisation's (optionally one site's)
    and adds unallocated_energy_kwh and unallocated_embodied_kgco2e.
    """
    period_start, period_end = as_utc_datetime(start), as_utc_datetime(end)
    if period_end <= period_start:
        raise ValueError("end must be after start")
    project = _resolve(Project, project, "slug")
    team = _resolve(Team, team, "slug")
    site = _resolve(Site, site, "name")
    is_organisation = project is None and team is None and phase is None

    in_period = Q(hour__gte=period_start, hour__lt=period_end)
    if is_organisation:
        facts = HourlyDeviceFact.objects.filter(in_period)
        if site is not None:
            facts = facts.filter(site=site)
        totals = _sums(facts)
        device_ids = set(facts.values_list("device_id", flat=True).distinct())
        devices = _devices_in_service(site)
        unmeasured = _unmeasured_embodied(devices, period_start, period_end)
        totals["embodied_kgco2e"] += unmeasured
        unallocated = HourlyProjectFact.objects.filter(in_period, project__isnull=True)
        if site is not None:
            unallocated = unallocated.filter(site=site)
        unallocated_totals = unallocated.aggregate(
            energy=Sum("energy_it_kwh"), embodied=Sum("embodied_kgco2e")
        )
        work_records = WorkRecord.objects.all()
    else:
        facts = HourlyProjectFact.objects.filter(in_period)
        if project is not None:
            facts = facts.filter(project=project)
        if team is not None:
            facts = facts.filter(team=team)
        if site is not None:
            facts = facts.filter(site=site)
        if phase is not None:
            facts = facts.filter(phase=phase)
        totals = _sums(facts)
        device_ids = set(facts.values_list("device_id", flat=True).distinct())
        work_records = WorkRecord.objects.all()
        if project is not None:
            work_records = work_records.filter(project=project)
        if team is not None:
            work_records = work_records.filter(project__team=team)
        if phase is not None:
            work_records = work_records.filter(project__phase=phase)

    work_units, unit_names = _work_units(work_records, period_start, period_end)
    operational = totals["operational_kgco2e"]
    embodied = totals["embodied_kgco2e"]
    result = {
        "energy_kwh": totals["energy_it_kwh"],
        "facility_energy_kwh": totals["energy_facility_kwh"],
        "operational_kgco2e": operational,
        "embodied_kgco2e": embodied,
        "total_kgco2e": operational + embodied,
        "cost": totals["cost"],
        "currency": Organisation.get().currency,
        "gpu_hours": totals["gpu_hours"],
        "work_units": work_units,
        # Carbon per "unit" means nothing when projects count different units (tokens and
        # images): then SCI is given per project only.
        "sci": fm.sci(operational, embodied, work_units) if len(unit_names) <= 1 else None,
        "coverage": _coverage(device_ids, period_start, period_end),
    }
    if is_organisation:
        result["unallocated_energy_kwh"] = unallocated_totals["energy"] or 0.0
        result["unallocated_embodied_kgco2e"] = (unallocated_totals["embodied"] or 0.0) + unmeasured
    return result


def _work_units(records, period_start: datetime, period_end: datetime) -> tuple[float, set[str]]:
    """Units of work in the period (pro rata), and the names of the units they count."""
    overlapping = records.filter(period_start__lt=period_end, period_end__gte=period_start)
    rows = list(
        overlapping.values_list("units", "period_start", "period_end", "project__work_unit")
    )
    units = math.fsum(
        fm.prorated_units(units, start, end, period_start, period_end)
        for units, start, end, _ in rows
    )
    return units, {name for *_, name in rows}


# --- in-service time -----------------------------------------------------------------------


def _devices_in_service(site: Site | None):
    devices = Device.objects.select_related("host")
    if site is not None:
        devices = devices.filter(host__site=site)
    return list(devices)


def _service_windows(
    devices, period_start: datetime, period_end: datetime
) -> dict[int, tuple[datetime, datetime]]:
    """[in service from, until) per device, as far as the period needs it.

    From: the host's purchase date if known, else the device's first sighting, or its first
    fact in the period if earlier (history pushed after registration still counts). Until: the
    host's decommissioning, else now.
    """
    needs_facts = [d.pk for d in devices if not d.host.purchased and d.first_seen_at > period_start]
    first_fact = {}
    if needs_facts:
        first_fact = dict(
            HourlyDeviceFact.objects.filter(
                device_id__in=needs_facts, hour__gte=period_start, hour__lt=period_end
            )
            .values("device_id")
            .annotate(first=Min("hour"))
            .values_list("device_id", "first")
        )
    now = timezone.now()
    windows = {}
    for device in devices:
        host = device.host
        if host.purchased:
            since = as_utc_datetime(host.purchased)
        else:
            candidates = [device.first_seen_at, first_fact.get(device.pk)]
            since = min(c for c in candidates if c is not None)
        until = as_utc_datetime(host.decommissioned) if host.decommissioned else now
        windows[device.pk] = (since, min(until, max(now, since)))
    return windows


def _unmeasured_embodied(devices, period_start: datetime, period_end: datetime) -> float:
    """Embodied carbon of in-service hours in the period that no fact measured (unallocated).

    Priced at the rate stored with the device's latest fact in the period (the rate its
    measured hours used), or the current rate for a device that did not report in it.
    """
    if not devices:
        return 0.0
    windows = _service_windows(devices, period_start, period_end)
    in_period = HourlyDeviceFact.objects.filter(
        device__in=devices, hour__gte=period_start, hour__lt=period_end
    )
    measured = defaultdict(float)
    latest = {}
    for device_id, hours, last in (
        in_period.values("device_id")
        .annotate(hours=Sum("gpu_hours"), last=Max("hour"))
        .values_list("device_id", "hours", "last")
    ):
        measured[device_id] = hours or 0.0
        latest[device_id] = last
    rates = _embodied_rates(devices, latest)
    total = []
    for device in devices:
        since, until = windows[device.pk]
        in_service = fm.in_service_hours(since, until, period_start, period_end)
        unmeasured = max(0.0, in_service - measured[device.pk])
        if unmeasured > 0:
            total.append(fm.embodied_for_hours(rates[device.pk], unmeasured))
    return math.fsum(total)


def _embodied_rates(devices, latest_hours: dict) -> dict[int, float]:
    rates = {}
    if latest_hours:
        by_hour = defaultdict(list)
        for device_id, hour in latest_hours.items():
            by_hour[hour].append(device_id)
        for hour, device_ids in by_hour.items():
            rates.update(
                HourlyDeviceFact.objects.filter(hour=hour, device_id__in=device_ids).values_list(
                    "device_id", "embodied_kgco2e_per_hour"
                )
            )
    missing = [d for d in devices if d.pk not in rates]
    if missing:
        from assessments.organisation.factors import embodied_for_devices

        rates.update(
            {pk: factor.kgco2e_per_hour for pk, factor in embodied_for_devices(missing).items()}
        )
    return rates


def _coverage(device_ids, period_start: datetime, period_end: datetime) -> float | None:
    if not device_ids:
        return None
    devices = list(Device.objects.filter(pk__in=device_ids).select_related("host"))
    windows = _service_windows(devices, period_start, period_end)
    expected_s = math.fsum(
        fm.in_service_hours(*windows[d.pk], period_start, period_end) * fm.SECONDS_PER_HOUR
        for d in devices
    )
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
