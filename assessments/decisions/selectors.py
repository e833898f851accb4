"""Decisions reads: a project's days and month from the hourly facts, optimisations with their
measured return, and the inputs of the recommendation rules.

The arithmetic lives in the pure modules assessments.decisions.roi,
assessments.decisions.recommendation_rules and assessments.decisions.technique_savings; these
functions only gather plain values from the facts and hand them over.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db.models import Avg, Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from assessments.decisions import recommendation_rules as rules
from assessments.decisions import roi
from assessments.decisions.technique_savings import technique_saving
from assessments.footprint.footprint_math import day_start
from assessments.footprint.scope_figures import Scope, scope_figures
from assessments.footprint.work import declared_units_by_day
from assessments.models import (
    GridIntensityHour,
    HourlyCodeCarbonFact,
    HourlyDeviceFact,
    HourlyProjectFact,
    Optimisation,
    Organisation,
    Project,
    Recommendation,
    Site,
)
from assessments.organisation import factors

RECOMMENDATION_PERIOD_DAYS = 30


def utc_today(now: datetime | None) -> date:
    return (now or timezone.now()).astimezone(UTC).date()


# --- Reading a project's days ------------------------------------------------------------------


def project_daily_units(project_id: int, start: date, end: date) -> dict[date, float]:
    """Units of work of the project's declared kind per UTC day in [start, end): each record
    spread over its period pro rata, measured work winning over posted work."""
    project = Project.objects.only("pk", "work_kind").get(pk=project_id)
    return declared_units_by_day(project=project, start=start, end=end)


def project_daily_values(project_id: int, start: date, end: date) -> list[roi.DailyValues]:
    """A project's days in [start, end): facility energy, carbon (operational + embodied), cost,
    units of work and the measurement coverage of the device-hours it used."""
    period_start, period_end = day_start(start), day_start(end)
    facts = HourlyProjectFact.objects.filter(
        project_id=project_id, hour__gte=period_start, hour__lt=period_end
    )
    sums = {
        row["day"]: row
        for row in facts.annotate(day=TruncDate("hour", tzinfo=UTC))
        .values("day")
        .annotate(
            energy=Sum("energy_facility_kwh"),
            operational=Sum("operational_kgco2e"),
            embodied=Sum("embodied_kgco2e"),
            cost=Sum("cost"),
        )
        .order_by()
    }
    used = set(facts.values_list("device_id", "hour"))
    coverage: dict[date, list[float]] = defaultdict(list)
    if used:
        device_facts = HourlyDeviceFact.objects.filter(
            device_id__in={device for device, _ in used},
            hour__gte=period_start,
            hour__lt=period_end,
        ).values_list("device_id", "hour", "coverage")
        for device_id, hour, value in device_facts:
            if (device_id, hour) in used:
                coverage[hour.astimezone(UTC).date()].append(value)
    units = project_daily_units(project_id, start, end)
    days = []
    for day in sorted(set(sums) | set(units)):
        row = sums.get(day, {})
        values = coverage.get(day)
        days.append(
            roi.DailyValues(
                day=day,
                facility_energy_kwh=row.get("energy") or 0.0,
                kgco2e=(row.get("operational") or 0.0) + (row.get("embodied") or 0.0),
                cost=row.get("cost") or 0.0,
                units=units.get(day, 0.0),
                coverage=sum(values) / len(values) if values else None,
            )
        )
    return days


@dataclass(frozen=True)
class MonthlyFootprint:
    """A project's last 30 days (the current monthly volume and footprint)."""

    facility_energy_kwh: float
    kgco2e: float  # operational + embodied
    operational_kgco2e: float
    cost: float
    units: float


def project_last_30_days(project_id: int, *, now: datetime | None = None) -> MonthlyFootprint:
    today = utc_today(now)
    figures = scope_figures(
        scope=Scope(project=Project.objects.get(pk=project_id)),
        start=today - timedelta(days=30),
        end=today,
        with_ranges=False,
    )
    return MonthlyFootprint(
        facility_energy_kwh=figures.energy_facility_kwh,
        kgco2e=figures.total_kgco2e,
        operational_kgco2e=figures.operational_kgco2e,
        cost=figures.cost,
        units=figures.work_units,
    )


@dataclass
class OptimisationReturn:
    """An optimisation with its investment and its measured return (or what-if estimate)."""

    optimisation: Optimisation
    currency: str
    hourly_rate: float
    investment: float
    carbon_price_per_t: float | None
    measured: roi.RoiResult | None = None
    estimate: roi.WhatIf | None = None
    cumulative: list[tuple[date, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def project(self) -> Project:
        return self.optimisation.project

    @property
    def has_measured_savings(self) -> bool:
        return self.measured is not None and self.measured.monthly_cost is not None

    @property
    def monthly_facility_energy_kwh(self) -> float | None:
        return self.measured.monthly_facility_energy_kwh if self.measured else None

    @property
    def monthly_cost(self) -> float | None:
        return self.measured.monthly_cost if self.measured else None

    @property
    def monthly_kgco2e(self) -> float | None:
        return self.measured.monthly_kgco2e if self.measured else None

    @property
    def payback_months(self) -> float | None:
        return self.measured.payback_months if self.measured else None

    @property
    def net_return_3y(self) -> float | None:
        return self.measured.net_return_3y if self.measured else None


def optimisation_investment(optimisation: Optimisation, organisation: Organisation) -> float:
    rate = optimisation.hourly_rate
    if rate is None:
        rate = organisation.engineer_hourly_rate
    return roi.investment_total(
        engineering_hours=optimisation.engineering_hours,
        hourly_rate=rate,
        other_costs=optimisation.other_costs,
    )


def optimisation_measure(
    *,
    optimisation: Optimisation,
    now: datetime | None = None,
    organisation: Organisation | None = None,
) -> OptimisationReturn:
    """Measure an applied optimisation from the facts; estimate a planned one (what-if)."""
    organisation = organisation or Organisation.get()
    today = utc_today(now)
    rate = (
        optimisation.hourly_rate
        if optimisation.hourly_rate is not None
        else organisation.engineer_hourly_rate
    )
    result = OptimisationReturn(
        optimisation=optimisation,
        currency=organisation.currency,
        hourly_rate=rate,
        investment=optimisation_investment(optimisation, organisation),
        carbon_price_per_t=organisation.internal_carbon_price_per_t,
    )
    project_id = optimisation.project_id
    applied = optimisation.status != Optimisation.Status.PLANNED and optimisation.applied_on
    if applied and optimisation.applied_on < today:
        (b_start, _), (e_start, e_end) = roi.windows(
            optimisation.applied_on, optimisation.baseline_days, optimisation.evaluation_days
        )
        daily = project_daily_values(project_id, b_start, max(e_end, today))
        recent = project_last_30_days(project_id, now=now).units
        result.measured = roi.measure(
            daily=daily,
            applied_on=optimisation.applied_on,
            baseline_days=optimisation.baseline_days,
            evaluation_days=optimisation.evaluation_days,
            as_of=today,
            investment=result.investment,
            recent_monthly_units=recent,
            carbon_price_per_t=organisation.internal_carbon_price_per_t,
        )
        baseline_rate = result.measured.baseline.cost_per_unit
        if baseline_rate is not None:
            result.cumulative = roi.cumulative_savings(
                daily=daily, start=e_start, as_of=today, baseline_cost_per_unit=baseline_rate
            )
    elif applied:
        result.notes.append("Applied today or later: measurement starts the day after.")

    if not result.has_measured_savings:
        saving = technique_saving(optimisation.technique)
        if saving is None:
            result.notes.append(
                "No published range for this technique: no estimate until it is measured."
            )
        else:
            month = project_last_30_days(project_id, now=now)
            result.estimate = roi.what_if(
                saving=saving,
                current_monthly_facility_energy_kwh=month.facility_energy_kwh,
                current_monthly_cost=month.cost,
                current_monthly_kgco2e=month.kgco2e,
                current_monthly_operational_kgco2e=month.operational_kgco2e,
                investment=result.investment,
                carbon_price_per_t=organisation.internal_carbon_price_per_t,
            )
    return result


def optimisations_visible(*, project: Project | None = None, team=None):
    queryset = Optimisation.objects.select_related("project", "project__team")
    if project is not None:
        queryset = queryset.filter(project=project)
    if team is not None:
        queryset = queryset.filter(project__team=team)
    return queryset.order_by("-applied_on", "-created_at", "-id")


def optimisation_returns(
    *, now: datetime | None = None, project: Project | None = None, team=None
) -> list[OptimisationReturn]:
    """Every optimisation with its measured return or estimate; the ROI page, API and report."""
    organisation = Organisation.get()
    return [
        optimisation_measure(optimisation=optimisation, now=now, organisation=organisation)
        for optimisation in optimisations_visible(project=project, team=team)
    ]


@dataclass(frozen=True)
class VerifiedSavings:
    count: int
    facility_energy_kwh: float
    cost: float
    kgco2e: float
    currency: str


def verified_savings_total(*, now: datetime | None = None, team=None) -> VerifiedSavings:
    """Monthly savings of the verified optimisations, as measured (for the overview, report)."""
    organisation = Organisation.get()
    count, energy, cost, kg = 0, 0.0, 0.0, 0.0
    queryset = optimisations_visible(team=team).filter(status=Optimisation.Status.VERIFIED)
    for optimisation in queryset:
        result = optimisation_measure(optimisation=optimisation, now=now, organisation=organisation)
        if not result.has_measured_savings:
            continue
        count += 1
        energy += result.monthly_facility_energy_kwh
        cost += result.monthly_cost
        kg += result.monthly_kgco2e
    return VerifiedSavings(count, energy, cost, kg, organisation.currency)


# --- Recommendations: gathering the rules' inputs ----------------------------------------------


def gpu_device_hours(start: datetime, end: datetime) -> list[rules.DeviceHour]:
    """GPU device-hours in [start, end) as the recommendation rules read them (also the idle
    allocated GPUs alert, docs/watch.md)."""
    return _device_hours(start, end)


def _device_hours(start: datetime, end: datetime) -> list[rules.DeviceHour]:
    # Plain rows, not model instances: a month of a large fleet is hundreds of thousands.
    rows = HourlyDeviceFact.objects.filter(
        hour__gte=start, hour__lt=end, device__kind="gpu"
    ).values_list(
        "device_id",
        "device__index",
        "device__host_id",
        "device__host__hostname",
        "device__power_limit_w",
        "hour",
        "util_mean_pct",
        "measured_seconds",
        "coverage",
        "energy_it_kwh",
        "energy_facility_kwh",
        "operational_kgco2e",
        "embodied_kgco2e",
        "cost",
        "pue",
        "grid_gco2e_per_kwh",
        "price_per_kwh",
    )
    return [
        rules.DeviceHour(
            device_id=device_id,
            device_label=f"{hostname} GPU {index}",
            host_id=host_id,
            host_label=hostname,
            hour=hour,
            util_pct=util,
            measured_seconds=seconds,
            coverage=coverage,
            energy_it_kwh=it_kwh,
            energy_facility_kwh=facility_kwh,
            operational_kgco2e=operational,
            embodied_kgco2e=embodied,
            cost=cost,
            pue=pue,
            grid_gco2e_per_kwh=grid,
            price_per_kwh=price,
            power_limit_w=limit,
        )
        for (
            device_id,
            index,
            host_id,
            hostname,
            limit,
            hour,
            util,
            seconds,
            coverage,
            it_kwh,
            facility_kwh,
            operational,
            embodied,
            cost,
            pue,
            grid,
            price,
        ) in rows.iterator(chunk_size=5000)
    ]


def _project_hours(start: datetime, end: datetime) -> list[rules.ProjectHour]:
    rows = HourlyProjectFact.objects.filter(
        hour__gte=start, hour__lt=end, project__isnull=False
    ).values_list(
        "project_id",
        "project__name",
        "phase",
        "project__phase",
        "device_id",
        "hour",
        "site_id",
        "energy_it_kwh",
        "energy_facility_kwh",
        "operational_kgco2e",
        "embodied_kgco2e",
        "cost",
        "gpu_hours",
    )
    return [
        rules.ProjectHour(
            project_id=project_id,
            project_label=name,
            phase=phase or project_phase,
            device_id=device_id,
            hour=hour,
            site_id=site_id,
            energy_it_kwh=it_kwh,
            energy_facility_kwh=facility_kwh,
            operational_kgco2e=operational,
            embodied_kgco2e=embodied,
            cost=cost,
            gpu_hours=gpu_hours,
        )
        for (
            project_id,
            name,
            phase,
            project_phase,
            device_id,
            hour,
            site_id,
            it_kwh,
            facility_kwh,
            operational,
            embodied,
            cost,
            gpu_hours,
        ) in rows.iterator(chunk_size=5000)
    ]


def _hourly_intensity(site_ids, start: datetime, end: datetime) -> dict[int, dict]:
    """Imported hourly grid series of the sites' zones (sites without one are left out)."""
    result = {}
    for site in Site.objects.filter(pk__in=site_ids):
        rows = GridIntensityHour.objects.filter(
            zone__code=site.grid_zone, hour__gte=start, hour__lt=end
        ).values_list("hour", "gco2e_per_kwh")
        series = {hour.astimezone(UTC): value for hour, value in rows}
        if series:
            result[site.pk] = series
    return result


def _site_factors() -> list[rules.SiteFactors]:
    result = []
    for site in Site.objects.order_by("name"):
        pue = factors.site_pue(site)
        grid = factors.zone_annual_intensity(site.grid_zone)
        price = factors.site_price(site)
        year = f", {grid.year}" if grid.year else ""
        result.append(
            rules.SiteFactors(
                site_id=site.pk,
                name=site.name,
                pue=pue.value,
                gco2e_per_kwh=grid.value,
                price_per_kwh=price.value,
                sources=f"PUE: {pue.source}; grid: {grid.source}{year}; price: {price.source}",
            )
        )
    return result


def _project_months(start: datetime, end: datetime) -> list[rules.ProjectMonth]:
    """The period's totals of every project with facts in it, measured by an agent or reported
    by CodeCarbon (scope_figures of each)."""
    measured = HourlyProjectFact.objects.filter(
        hour__gte=start, hour__lt=end, project__isnull=False
    ).values_list("project_id", flat=True)
    reported = HourlyCodeCarbonFact.objects.filter(hour__gte=start, hour__lt=end).values_list(
        "project_id", flat=True
    )
    active = set(measured.distinct().order_by()) | set(reported.distinct().order_by())
    projects = list(Project.objects.filter(pk__in=active))
    optimised = set(
        Optimisation.objects.filter(project__in=projects).values_list("project_id", flat=True)
    )
    result = []
    for project in projects:
        figures = scope_figures(
            scope=Scope(project=project), start=start, end=end, with_ranges=False
        )
        result.append(
            rules.ProjectMonth(
                project_id=project.pk,
                project_label=project.name,
                phase=project.phase,
                work_unit=project.work_unit,
                energy_facility_kwh=figures.energy_facility_kwh,
                operational_kgco2e=figures.operational_kgco2e,
                kgco2e=figures.total_kgco2e,
                cost=figures.cost,
                units=figures.work_units,
                has_optimisation=project.pk in optimised,
            )
        )
    return result


def _host_lives(start: datetime, end: datetime) -> list[rules.HostLife]:
    from collectors.models import Device

    rows = (
        HourlyDeviceFact.objects.filter(hour__gte=start, hour__lt=end)
        .values("device__host_id", "device__host__hostname")
        .annotate(
            operational=Sum("operational_kgco2e"),
            embodied=Sum("embodied_kgco2e"),
            util=Avg("util_mean_pct"),
        )
        .order_by()
    )
    rows = list(rows)
    devices = Device.objects.filter(host_id__in=[row["device__host_id"] for row in rows])
    embodied = factors.embodied_for_devices(devices.select_related("host__hardware_model"))
    lifetimes: dict[int, tuple[float, str]] = {}
    for device in devices:
        factor = embodied.get(device.pk)
        if factor is None or device.host_id in lifetimes:
            continue
        # The GPU's lifetime where there is one (GPUs carry most embodied carbon), else the host's.
        if factor.l_gpu:
            lifetimes[device.host_id] = (factor.l_gpu, f"GPU model {factor.gpu_model}")
        elif factor.l_host:
            lifetimes[device.host_id] = (factor.l_host, "host")
    result = []
    for row in rows:
        host_id = row["device__host_id"]
        life, source = lifetimes.get(host_id, (None, ""))
        if not life:
            continue
        result.append(
            rules.HostLife(
                host_id=host_id,
                host_label=row["device__host__hostname"],
                operational_kgco2e=row["operational"] or 0.0,
                embodied_kgco2e=row["embodied"] or 0.0,
                lifetime_years=life,
                lifetime_source=source,
                mean_util_pct=row["util"],
            )
        )
    return result


def recommendation_candidates(*, now: datetime) -> tuple[rules.Period, list[rules.Candidate]]:
    """Run every rule over the hourly facts of the last 30 days (to the last whole hour)."""
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    period = rules.Period(end - timedelta(days=RECOMMENDATION_PERIOD_DAYS), end)
    device_hours = _device_hours(period.start, period.end)
    project_hours = _project_hours(period.start, period.end)
    site_ids = {fact.site_id for fact in project_hours if fact.site_id is not None}
    candidates = []
    candidates += rules.idle_gpus(device_hours, period=period)
    candidates += rules.low_utilisation(project_hours, device_hours, period=period)
    candidates += rules.power_caps(
        project_hours, device_hours, period=period, saving=technique_saving("power_cap")
    )
    candidates += rules.carbon_aware_timing(
        project_hours, _hourly_intensity(site_ids, period.start, period.end), period=period
    )
    candidates += rules.site_choice(project_hours, _site_factors(), period=period)
    candidates += rules.optimisation_candidates(
        _project_months(period.start, period.end),
        period=period,
        saving=technique_saving("quantisation"),
    )
    candidates += rules.hardware_lifetime(_host_lives(period.start, period.end), period=period)
    _attach_idle_projects(candidates, period)
    return period, candidates


def _attach_idle_projects(candidates: list[rules.Candidate], period: rules.Period) -> None:
    """An idle GPU allocated to one project belongs to that project (who can act on it)."""
    for candidate in candidates:
        if candidate.kind != "idle_gpu" or candidate.device_id is None:
            continue
        projects = set(
            HourlyProjectFact.objects.filter(
                device_id=candidate.device_id,
                hour__gte=period.start,
                hour__lt=period.end,
                project__isnull=False,
            ).values_list("project_id", flat=True)
        )
        if len(projects) == 1:
            candidate.project_id = projects.pop()


# --- Recommendations: reading ------------------------------------------------------------------

ORDERINGS = {
    "kgco2e": ("-monthly_kgco2e", "-monthly_cost"),
    "cost": ("-monthly_cost", "-monthly_kgco2e"),
    "energy": ("-monthly_facility_energy_kwh", "-monthly_kgco2e"),
}


def recommendations_list(
    *, status: str | None = None, kind: str | None = None, order: str = "kgco2e", team=None
):
    queryset = Recommendation.objects.select_related("project", "host", "device", "optimisation")
    if status:
        queryset = queryset.filter(status=status)
    if kind:
        queryset = queryset.filter(kind=kind)
    if team is not None:
        queryset = queryset.filter(Q(project__team=team) | Q(project__isnull=True))
    return queryset.order_by(*ORDERINGS.get(order, ORDERINGS["kgco2e"]), "id")


def top_recommendations(n: int = 5, *, team=None) -> list[Recommendation]:
    """The open recommendations with the largest monthly carbon saving (overview, report)."""
    return list(recommendations_list(status=Recommendation.Status.OPEN, team=team)[:n])


def recommendation_counts() -> dict[str, int]:
    """How many recommendations there are in each status."""
    counts = dict.fromkeys(Recommendation.Status.values, 0)
    for row in Recommendation.objects.values("status").annotate(n=Count("id")).order_by():
        counts[row["status"]] = row["n"]
    return counts
