"""Selectors for the dashboard pages: totals, time series, breakdowns, hardware and collectors.

They read the daily aggregates (assessments.models.daily), so a year of hourly facts for
hundreds of GPUs stays fast, and return plain dicts and lists that the pages, the chart module
and the CSV export all share. Dates are UTC days; `end` is exclusive everywhere.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from assessments.dashboards.dashboard_math import age_years, delta_pct, month_comparison
from assessments.footprint.footprint_math import day_start, per_unit, sci
from assessments.footprint.ranges_math import divided_bounds
from assessments.footprint.scope_figures import (
    PageReads,
    Scope,
    scope_breakdown,
    scope_breakdowns,
    scope_figures,
    scope_figures_over,
    work_units_by_project,
)
from assessments.footprint.selectors import unmeasured_embodied
from assessments.footprint.work import declared_units_by_day
from assessments.models import (
    MEASURE_FIELDS,
    DailyDeviceFact,
    DailyProjectFact,
    HardwareModel,
    HourlyProjectFact,
    Organisation,
    Phase,
    Project,
    Site,
    Team,
)
from assessments.organisation import factors
from collectors.models import Collector, Device, Host, IngestBatch, IngestRejection

# Above this many days a trend is drawn by month rather than by day.
DAILY_TREND_MAX_DAYS = 92
SAMPLE_RATE_WINDOW = timedelta(minutes=15)


def currency() -> str:
    return Organisation.get().currency


def _project_days(*, start: date, end: date, team=None, project=None):
    queryset = DailyProjectFact.objects.filter(day__gte=start, day__lt=end)
    if team is not None:
        queryset = queryset.filter(team=team)
    if project is not None:
        queryset = queryset.filter(project=project)
    return queryset


def _with_total(row: dict) -> dict:
    row["total_kgco2e"] = (row.get("operational_kgco2e") or 0) + (row.get("embodied_kgco2e") or 0)
    for name in MEASURE_FIELDS:
        row[name] = row.get(name) or 0.0
    return row


# --- Totals and comparisons --------------------------------------------------------------------


def _scope(*, team=None, project=None) -> Scope:
    return Scope(team=team, project=project)


def period_totals(
    *, start: date, end: date, team=None, project=None, with_ranges: bool = True
) -> dict:
    """Energy, carbon, cost and SCI over [start, end), for everything, a team or a project
    (scope_figures under the facts' names), with their ranges unless with_ranges is False."""
    scope = _scope(team=team, project=project)
    return scope_figures(scope=scope, start=start, end=end, with_ranges=with_ranges).as_measures()


def kpi_comparison(*, end: date, team=None, shared: PageReads | None = None) -> dict:
    """This month (to date) against the same days of last month and of a year earlier (shared:
    the page's reads, scope_figures.PageReads)."""
    periods = dict(zip(("current", "previous", "year_ago"), month_comparison(end), strict=True))
    # The ranges of this month only: the earlier months are compared, not shown with theirs.
    # No coverage nor unallocated part: the comparison shows neither (the overview shows the
    # filtered period's).
    found = scope_figures_over(
        scope=_scope(team=team),
        periods=[(period.start, period.end) for period in periods.values()],
        with_ranges=[key == "current" for key in periods],
        with_details=False,
        shared=shared,
    )
    figures = {key: f.as_measures() for key, f in zip(periods, found, strict=True)}
    deltas = {
        key: {
            "vs_previous_pct": delta_pct(figures["current"][key], figures["previous"][key]),
            "vs_year_ago_pct": delta_pct(figures["current"][key], figures["year_ago"][key]),
        }
        for key in (*MEASURE_FIELDS, "total_kgco2e", "sci")
    }
    return {"periods": periods, "figures": figures, "deltas": deltas}


# --- Series and breakdowns ---------------------------------------------------------------------


def trend_bucket(start: date, end: date) -> str:
    return "day" if (end - start).days <= DAILY_TREND_MAX_DAYS else "month"


def time_series(
    *, start: date, end: date, team=None, project=None, bucket=None, with_ranges: bool = False
) -> list[dict]:
    """Sums per day (or month) with the period's first day under `period` (scope_breakdown: the
    buckets add up to scope_figures' measured and CodeCarbon-counted figures). The charts
    draw the figures only: their ranges are read when asked for."""
    bucket = bucket or trend_bucket(start, end)
    scope = _scope(team=team, project=project)
    rows = scope_breakdown(by=bucket, scope=scope, start=start, end=end, with_ranges=with_ranges)
    return [_with_total(row | {"period": period}) for period, row in sorted(rows.items())]


def _label_phase(value: str) -> str:
    return Phase(value).label if value in Phase.values else (value or "No project (unallocated)")


def breakdown_rows(
    *, bys: tuple[str, ...], start: date, end: date, team=None, shared: PageReads | None = None
) -> dict:
    """{by: scope_breakdown rows} of several splits at once, for a page that shows several
    tables: their ranges come from one read (scope_breakdowns); `breakdown(rows=...)` labels
    them. shared: the page's reads."""
    scope = _scope(team=team)
    return scope_breakdowns(bys=bys, scope=scope, start=start, end=end, shared=shared)


def breakdown(
    *,
    by: str,
    start: date,
    end: date,
    team=None,
    project=None,
    with_ranges: bool = True,
    rows: dict | None = None,
) -> list[dict]:
    """Sums split by team, phase, site or project, largest carbon first (scope_breakdown: the
    rows' figures are those of scope_figures, CodeCarbon's counted energy included; with their
    ranges unless with_ranges is False, as for a chart). rows: read already (breakdown_rows)."""
    if by not in _LABELS:
        raise ValueError(f"Unknown breakdown {by!r}; use one of {sorted(_LABELS)}.")
    if rows is None:
        scope = _scope(team=team, project=project)
        rows = scope_breakdown(by=by, scope=scope, start=start, end=end, with_ranges=with_ranges)
    labels = _LABELS[by](set(rows))
    labelled = [_with_total(row) | labels[key] for key, row in rows.items()]
    return sorted(labelled, key=lambda r: r["total_kgco2e"], reverse=True)


def _team_labels(ids) -> dict:
    names = dict(Team.objects.filter(pk__in=ids).values_list("pk", "name"))
    return {pk: {"label": names.get(pk) or "No team (unallocated)"} for pk in ids}


def _site_labels(ids) -> dict:
    names = dict(Site.objects.filter(pk__in=ids).values_list("pk", "name"))
    return {pk: {"label": names.get(pk) or "Unknown site"} for pk in ids}


def _phase_labels(phases) -> dict:
    return {phase: {"label": _label_phase(phase)} for phase in phases}


def _project_labels(ids) -> dict:
    projects = Project.objects.select_related("team").in_bulk([pk for pk in ids if pk])
    labels = {}
    for pk in ids:
        project = projects.get(pk)
        labels[pk] = {
            "label": project.name if project else "Unallocated",
            "project__slug": project.slug if project else None,
            "project__name": project.name if project else None,
            "project__team__name": project.team.name if project else None,
            "project__work_unit": project.work_unit if project else None,
        }
    return labels


_LABELS = {
    "team": _team_labels,
    "phase": _phase_labels,
    "site": _site_labels,
    "project": _project_labels,
}


def top_projects(
    *, start: date, end: date, team=None, limit: int = 10, rows: dict | None = None
) -> list[dict]:
    """Projects with the largest total carbon, with work units and SCI (rows: the projects'
    scope_breakdown rows, read already)."""
    rows = [
        r
        for r in breakdown(by="project", start=start, end=end, team=team, rows=rows)
        if r["project__slug"]
    ][:limit]
    slugs = [row["project__slug"] for row in rows]
    projects = {p.slug: p for p in Project.objects.filter(slug__in=slugs)}
    units = work_units_by_project(projects=projects.values(), start=start, end=end)
    for row in rows:
        project = projects[row["project__slug"]]
        row["work_units"] = units.get(project.pk, 0.0)
        row["sci"] = sci(row["operational_kgco2e"], row["embodied_kgco2e"], row["work_units"])
        _sci_range(row)
    return rows


def _sci_range(row: dict) -> None:
    """The row's SCI range: its total carbon's range over its units (units are counted)."""
    if "ranges" in row:
        total = row["ranges"].get("total_kgco2e") if row["sci"] is not None else None
        row["ranges"] = row["ranges"] | {"sci": divided_bounds(total, row["work_units"])}


def unallocated(*, start: date, end: date, shared: PageReads | None = None) -> dict:
    """Measured or in-service device time no project used: the visible waste, by site (shared:
    the page's reads)."""
    queryset = _project_days(start=start, end=end).filter(project__isnull=True)
    by_site = [
        _with_total(dict(row) | {"label": row["site__name"] or "Unknown site"})
        for row in queryset.values("site__name")
        .annotate(**{n: Sum(n) for n in MEASURE_FIELDS})
        .order_by()
    ]
    read = shared.in_service if shared is not None else None
    [unmeasured] = unmeasured_embodied([(start, end)], read=read)
    if unmeasured:
        by_site.append(
            _with_total({"label": "In service, no measurement", "embodied_kgco2e": unmeasured})
        )
    total = {name: sum(row[name] for row in by_site) for name in (*MEASURE_FIELDS, "total_kgco2e")}
    return {"total": total, "by_site": by_site}


def coverage(*, start: date, end: date, with_series: bool = False) -> dict:
    """Share of device time measured: seconds measured / seconds of the device-hours with facts."""
    queryset = DailyDeviceFact.objects.filter(day__gte=start, day__lt=end)
    # Grouping by device and mapping to hosts here is about 3x faster than joining the hosts.
    hostname_of = dict(Device.objects.values_list("id", "host__hostname"))
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for device_id, seconds, hours in (
        queryset.values("device_id")
        .annotate(seconds=Sum("measured_seconds"), hours=Sum("hours"))
        .values_list("device_id", "seconds", "hours")
        .order_by()
    ):
        entry = sums[hostname_of[device_id]]
        entry[0] += seconds or 0.0
        entry[1] += hours or 0
    hosts = [
        {"device__host__hostname": name, "seconds": seconds, "hours": hours}
        for name, (seconds, hours) in sorted(sums.items())
    ]
    by_host = [
        {
            "label": row["device__host__hostname"],
            "coverage": _share(row["seconds"], row["hours"]),
            "device_hours": row["hours"],
        }
        for row in hosts
    ]
    result = {
        "coverage": _share(
            sum(row["seconds"] or 0 for row in hosts), sum(row["hours"] or 0 for row in hosts)
        ),
        "by_host": by_host,
    }
    if with_series:
        result["series"] = coverage_series(start=start, end=end)
    return result


def coverage_series(*, start: date, end: date) -> list[dict]:
    """Share of device time measured, per day."""
    return [
        {"period": row["day"], "coverage": _share(row["seconds"], row["hours"])}
        for row in DailyDeviceFact.objects.filter(day__gte=start, day__lt=end)
        .values("day")
        .annotate(seconds=Sum("measured_seconds"), hours=Sum("hours"))
        .order_by("day")
    ]


def _share(seconds, hours) -> float | None:
    return min(1.0, (seconds or 0) / (hours * 3600)) if hours else None


# --- A project ---------------------------------------------------------------------------------


def project_by_device(*, project, start: date, end: date) -> list[dict]:
    """A project's footprint per device (host/GPU), from the hourly facts of that project."""
    rows = (
        HourlyProjectFact.objects.filter(
            project=project, hour__gte=day_start(start), hour__lt=day_start(end)
        )
        .values("device__host__hostname", "device__index", "device__name", "device__kind")
        .annotate(**{name: Sum(name) for name in MEASURE_FIELDS})
        .order_by("device__host__hostname", "device__index")
    )
    result = []
    for row in rows:
        row = _with_total(dict(row))
        row["label"] = (
            f"{row['device__host__hostname']}/{row['device__kind']}{row['device__index']}"
        )
        result.append(row)
    return result


def project_per_unit_series(*, project, start: date, end: date) -> list[dict]:
    """Per day: energy (kWh), carbon (kgCO2e), units of work, and the two per unit."""
    series = time_series(start=start, end=end, project=project, bucket="day")
    units_per_day = declared_units_by_day(project=project, start=start, end=end)
    rows = []
    for row in series:
        units = units_per_day.get(row["period"], 0.0)
        rows.append(
            {
                "period": row["period"],
                "energy_it_kwh": row["energy_it_kwh"],
                "total_kgco2e": row["total_kgco2e"],
                "work_units": units,
                "kwh_per_unit": per_unit(row["energy_it_kwh"], units),
                "kgco2e_per_unit": per_unit(row["total_kgco2e"], units),
            }
        )
    return rows


def project_rows(*, start: date, end: date, team=None) -> list[dict]:
    """Every project (also those without facts in the period) with its totals and SCI."""
    projects = Project.objects.select_related("team").order_by("team__name", "name")
    if team is not None:
        projects = projects.filter(team=team)
    projects = list(projects)
    sums = scope_breakdown(by="project", scope=_scope(team=team), start=start, end=end)
    units = work_units_by_project(projects=projects, start=start, end=end)
    rows = []
    for project in projects:
        row = _with_total(dict(sums.get(project.pk, {})))
        row.update(
            project=project,
            work_units=units.get(project.pk, 0.0),
        )
        row["sci"] = sci(row["operational_kgco2e"], row["embodied_kgco2e"], row["work_units"])
        _sci_range(row)
        rows.append(row)
    return rows


# --- Hardware ----------------------------------------------------------------------------------


def hardware_devices(*, start: date, end: date, today: date | None = None) -> list[dict]:
    """Every device with utilisation, idle energy, embodied vs operational, age vs lifetime."""
    today = today or timezone.now().date()
    sums = {
        row["device_id"]: row
        for row in DailyDeviceFact.objects.filter(day__gte=start, day__lt=end)
        .values("device_id")
        .annotate(
            hours=Sum("hours"),
            measured_seconds=Sum("measured_seconds"),
            util_hours=Sum("util_hours"),
            util_pct_sum=Sum("util_pct_sum"),
            idle_hours=Sum("idle_hours"),
            idle_energy_it_kwh=Sum("idle_energy_it_kwh"),
            **{name: Sum(name) for name in MEASURE_FIELDS},
        )
        .order_by()
    }
    devices = list(
        Device.objects.select_related("host", "host__site", "gpu_model_override").order_by(
            "host__hostname", "kind", "index"
        )
    )
    # The same embodied factors (model, lifetimes, sources) the rollup charges with.
    embodied = factors.embodied_for_devices(devices)
    candidates = factors.gpu_candidates()
    models_by_name: dict[str, object] = {}
    rows = []
    for device in devices:
        row = _with_total(dict(sums.get(device.pk, {})))
        factor = embodied[device.pk]
        if device.gpu_model_override_id or device.name not in models_by_name:
            model = factors.gpu_model_for(device, candidates=candidates)
            if not device.gpu_model_override_id:
                models_by_name[device.name] = model
        else:
            model = models_by_name[device.name]
        host = device.host
        util_hours = row.get("util_hours") or 0
        row.update(
            device=device,
            host=host,
            label=f"{host.hostname}/{device.kind}{device.index}",
            hours=row.get("hours") or 0,
            util_mean_pct=(row["util_pct_sum"] / util_hours) if util_hours else None,
            idle_hours=row.get("idle_hours") or 0,
            idle_energy_it_kwh=row.get("idle_energy_it_kwh") or 0.0,
            gpu_model=model,
            gpu_model_name=factor.gpu_model,
            embodied_source="; ".join(factor.sources),
            embodied_gaps="; ".join(factor.gaps),
            age_years=age_years(host.purchased, today),
            lifetime_years=factor.l_gpu or factor.l_host,
            host_lifetime_years=factor.l_host,
        )
        rows.append(row)
    return rows


def hardware_hosts(*, start: date, end: date, today: date | None = None) -> list[dict]:
    """Hosts with the sums of their devices."""
    today = today or timezone.now().date()
    devices = hardware_devices(start=start, end=end, today=today)
    by_host: dict[int, dict] = {}
    for row in devices:
        host = row["host"]
        entry = by_host.setdefault(
            host.pk,
            {
                "host": host,
                "label": host.hostname,
                "site": host.site.name if host.site else "",
                "devices": 0,
                "gpus": 0,
                "hours": 0,
                "idle_hours": 0,
                "util_pct_sum": 0.0,
                "util_hours": 0,
                "idle_energy_it_kwh": 0.0,
                "age_years": age_years(host.purchased, today),
                "lifetime_years": row["host_lifetime_years"] or host.lifetime_years,
                **{name: 0.0 for name in (*MEASURE_FIELDS, "total_kgco2e")},
            },
        )
        entry["devices"] += 1
        entry["gpus"] += row["device"].kind == Device.Kind.GPU
        entry["util_pct_sum"] += row.get("util_pct_sum") or 0.0
        entry["util_hours"] += row.get("util_hours") or 0
        entry["hours"] += row["hours"]
        entry["idle_hours"] += row["idle_hours"]
        entry["idle_energy_it_kwh"] += row["idle_energy_it_kwh"]
        for name in (*MEASURE_FIELDS, "total_kgco2e"):
            entry[name] += row[name]
    hosts = list(by_host.values())
    for entry in hosts:
        hours = entry["util_hours"]
        entry["util_mean_pct"] = entry["util_pct_sum"] / hours if hours else None
        entry["embodied_share"] = per_unit(entry["embodied_kgco2e"], entry["total_kgco2e"])
    known = {h["host"].pk for h in hosts}
    for host in Host.objects.exclude(pk__in=known).select_related("site"):
        hosts.append(
            {
                "host": host,
                "label": host.hostname,
                "site": host.site.name if host.site else "",
                "devices": 0,
                "gpus": 0,
                "hours": 0,
                "idle_hours": 0,
                "util_mean_pct": None,
                "idle_energy_it_kwh": 0.0,
                "embodied_share": None,
                "age_years": age_years(host.purchased, today),
                "lifetime_years": host.lifetime_years,
                **{name: 0.0 for name in (*MEASURE_FIELDS, "total_kgco2e")},
            }
        )
    return sorted(hosts, key=lambda h: h["label"])


# --- Collectors --------------------------------------------------------------------------------


def collector_health(*, team=None, now=None) -> list[dict]:
    """Per collector: last seen, lag, recent sample rate, rejected batches (last 24 h and all)."""
    now = now or timezone.now()
    collectors = Collector.objects.select_related("team").order_by("revoked_at", "name")
    if team is not None:
        collectors = collectors.filter(team=team)
    collectors = collectors.annotate(
        host_count=Count("hosts", distinct=True),
        device_count=Count("devices", distinct=True),
    )
    recent = {
        row["collector_id"]: row["samples"] or 0
        for row in IngestBatch.objects.filter(received_at__gte=now - SAMPLE_RATE_WINDOW)
        .values("collector_id")
        .annotate(samples=Sum("stored_count"))
        .order_by()
    }
    rejections = {
        row["collector_id"]: row
        for row in IngestRejection.objects.filter(collector__isnull=False)
        .values("collector_id")
        .annotate(
            total=Count("id"),
            last_day=Count("id", filter=Q(at__gte=now - timedelta(days=1))),
            last_at=Max("at"),
        )
        .order_by()
    }
    rows = []
    for collector in collectors:
        rejected = rejections.get(collector.pk, {})
        lag = (now - collector.last_seen_at).total_seconds() if collector.last_seen_at else None
        rows.append(
            {
                "collector": collector,
                "last_seen_at": collector.last_seen_at,
                "lag_seconds": lag,
                "samples_per_second": recent.get(collector.pk, 0)
                / SAMPLE_RATE_WINDOW.total_seconds(),
                "rejected_last_day": rejected.get("last_day", 0),
                "rejected_total": rejected.get("total") or 0,
                "last_rejected_at": rejected.get("last_at"),
                "hosts": collector.host_count,
                "devices": collector.device_count,
            }
        )
    return rows


def recent_rejections(*, team=None, limit: int = 20) -> list[IngestRejection]:
    queryset = IngestRejection.objects.select_related("collector").order_by("-at")
    if team is not None:
        queryset = queryset.filter(collector__team=team)
    return list(queryset[:limit])


# --- Factor sources ----------------------------------------------------------------------------


def _cite(factor) -> str:
    year = f", {factor.year}" if factor.year else ""
    gap = f" (data gap: {factor.note})" if factor.is_fallback and factor.note else ""
    return f"{factor.source}{year}{gap}"


@dataclass(frozen=True)
class _NamedGpu:
    """What factors.gpu_model_for reads of a device: match each reported name once."""

    name: str
    kind: str = Device.Kind.GPU
    gpu_model_override_id: None = None


def factor_sources() -> dict:
    """The factors behind the carbon and cost figures, each with its source, for source notes."""
    sites = []
    for site in Site.objects.order_by("name"):
        grid, pue, price = (
            factors.zone_annual_intensity(site.grid_zone),
            factors.site_pue(site),
            factors.site_price(site),
        )
        sites.append(
            {
                "name": site.name,
                "grid_zone": site.grid_zone,
                "grid_gco2e_per_kwh": grid.value,
                "grid_source": _cite(grid),
                "pue": pue.value,
                "pue_source": _cite(pue),
                "price_per_kwh": price.value,
                "price_unit": price.unit,
                "price_source": _cite(price),
            }
        )
    candidates = factors.gpu_candidates()
    gpus = Device.objects.filter(kind=Device.Kind.GPU)
    used = {
        model.pk: model
        for model in HardwareModel.objects.filter(pk__in=gpus.values("gpu_model_override"))
    }
    names = gpus.filter(gpu_model_override__isnull=True).values_list("name", flat=True)
    for name in names.distinct().order_by():
        model = factors.gpu_model_for(_NamedGpu(name), candidates=candidates)
        if model is not None:
            used[model.pk] = model
    hardware = [
        {
            "name": model.name,
            "embodied_kgco2e": model.embodied_kgco2e,
            "lifetime_years": model.lifetime_years,
            "source": model.source,
        }
        for model in sorted(used.values(), key=lambda m: m.name)
    ]
    return {"sites": sites, "hardware": hardware}
