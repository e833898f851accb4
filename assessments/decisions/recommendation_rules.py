"""Recommendation rules: each takes plain data about a period and returns candidates (pure).

A candidate names its target, the evidence (numbers and the period they come from), an estimated
monthly saving (facility kWh, money, kgCO2e) and a confidence. Savings over the analysed period are
scaled to a 30-day month. assessments.decisions.selectors feeds the rules from the hourly facts;
assessments.decisions.services stores the candidates as Recommendation rows (upserted by
fingerprint).

The rules and their arithmetic are documented in docs/decisions.md.
"""

import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from assessments.decisions.technique_savings import TechniqueSaving
from assessments.footprint import footprint_math as fm
from assessments.footprint.footprint_math import IDLE_UTIL_PCT, per_unit

MONTH_DAYS = 30
IDLE_MIN_STRETCH_HOURS = 4  # only idle stretches at least this long count ("long stretches")
IDLE_MIN_HOURS = 12  # a device needs this many idle hours in the period to be reported
LOW_UTIL_PCT = 30.0  # a project whose GPUs average less than this could be consolidated
CONSOLIDATION_TARGET_PCT = 70.0  # utilisation the consolidated GPUs are assumed to run at
NEAR_POWER_LIMIT = 0.85  # mean power at least this share of the limit counts as "near"
POWER_CAP_MIN_HOURS = 24
POWER_CAP_SHARE = 0.75  # suggested cap, share of the power limit (within the cited 60-80%)
# Batch evaluation suites move as easily as training; inference follows its users.
FLEXIBLE_PHASES = ("training", "fine_tuning", "data_preparation", "evaluation")
TIMING_MIN_SHARE = 0.05  # report a shift only where it saves at least 5% of the carbon
SITE_MIN_SHARE = 0.10  # report another site only where it saves at least 10% of carbon or cost
CANDIDATES_MAX = 5  # inference projects proposed for optimisation at most
LIFETIME_EXTENSION_YEARS = 1
LIFETIME_TARGET_UTIL_PCT = 60.0
MATERIAL_CHANGE = 0.25  # a dismissed recommendation comes back when its saving moves this much


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    @property
    def to_month(self) -> float:
        """Factor from a total over the period to a 30-day month."""
        return MONTH_DAYS / self.days

    def as_evidence(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True)
class DeviceHour:
    """One device over one hour, as HourlyDeviceFact has it, plus its device's context."""

    device_id: int
    device_label: str  # "gpu-node-01 GPU 0"
    host_id: int
    host_label: str
    hour: datetime
    util_pct: float | None
    measured_seconds: float
    coverage: float
    energy_it_kwh: float
    energy_facility_kwh: float
    operational_kgco2e: float
    embodied_kgco2e: float
    cost: float
    pue: float
    grid_gco2e_per_kwh: float
    price_per_kwh: float
    power_limit_w: float | None = None

    @property
    def mean_power_w(self) -> float | None:
        if self.measured_seconds <= 0:
            return None
        return self.energy_it_kwh * 1000 / (self.measured_seconds / 3600)


@dataclass(frozen=True)
class ProjectHour:
    """A project's share of one device over one hour (HourlyProjectFact with a project)."""

    project_id: int
    project_label: str
    phase: str
    device_id: int
    hour: datetime
    site_id: int | None
    energy_it_kwh: float
    energy_facility_kwh: float
    operational_kgco2e: float
    embodied_kgco2e: float
    cost: float
    gpu_hours: float


@dataclass(frozen=True)
class SiteFactors:
    site_id: int
    name: str
    pue: float
    gco2e_per_kwh: float  # annual value of the site's grid zone
    price_per_kwh: float
    sources: str  # where the three values come from, in words


@dataclass(frozen=True)
class ProjectMonth:
    """A project's totals over the period, for the optimisation-candidate rule."""

    project_id: int
    project_label: str
    phase: str
    work_unit: str
    energy_facility_kwh: float
    operational_kgco2e: float
    kgco2e: float  # operational + embodied
    cost: float
    units: float
    has_optimisation: bool


@dataclass(frozen=True)
class HostLife:
    """A host's carbon over the period, for the hardware-lifetime rule."""

    host_id: int
    host_label: str
    operational_kgco2e: float
    embodied_kgco2e: float
    lifetime_years: float
    lifetime_source: str
    mean_util_pct: float | None


@dataclass
class Candidate:
    kind: str  # Recommendation.Kind value
    target_key: str  # stable part of the fingerprint
    target: str
    title: str
    action: str
    evidence: dict
    monthly_facility_energy_kwh: float
    monthly_cost: float
    monthly_kgco2e: float
    confidence: str  # "low", "medium", "high"
    project_id: int | None = None
    host_id: int | None = None
    device_id: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return f"{self.kind}:{self.target_key}"


# --- Helpers ----------------------------------------------------------------------------------


def _r(value: float | None, digits: int = 3) -> float | None:
    """Evidence numbers rounded for display (savings themselves keep full precision)."""
    if value is None:
        return None
    return round(value, digits)


def evidence_digest(evidence: dict) -> str:
    return hashlib.sha256(json.dumps(evidence, sort_keys=True, default=str).encode()).hexdigest()


def changed_materially(
    old: tuple[float, float, float], new: tuple[float, float, float], *, threshold=MATERIAL_CHANGE
) -> bool:
    """Whether a saving (kWh, money, kgCO2e) moved enough to reopen a dismissed recommendation.

    Each figure is compared relatively; tiny figures (under 1 unit) never count as a change,
    so rounding noise cannot bring a dismissed recommendation back.
    """
    for before, after in zip(old, new, strict=True):
        scale = max(abs(before), abs(after))
        if scale >= 1 and abs(after - before) / max(abs(before), 1e-9) > threshold:
            return True
    return False


def _confidence(*, hours: float, coverage: float | None, strong_hours: float = 72) -> str:
    if coverage is not None and coverage < 0.8:
        return "low"
    if hours >= strong_hours:
        return "high"
    return "medium" if hours >= 24 else "low"


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


# --- Idle GPUs ---------------------------------------------------------------------------------


def _idle_stretches(hours: list[DeviceHour], util_pct: float) -> list[list[DeviceHour]]:
    """Runs of consecutive powered hours under util_pct (an hour without data breaks a run)."""
    stretches, current, previous = [], [], None
    for fact in sorted(hours, key=lambda h: h.hour):
        idle = (
            fact.util_pct is not None
            and fact.util_pct < util_pct
            and fact.measured_seconds > 0
            and fact.energy_it_kwh > 0
        )
        contiguous = previous is not None and fact.hour - previous == timedelta(hours=1)
        if idle and current and contiguous:
            current.append(fact)
        elif idle:
            if current:
                stretches.append(current)
            current = [fact]
        else:
            if current:
                stretches.append(current)
            current = []
        previous = fact.hour
    if current:
        stretches.append(current)
    return stretches


def idle_gpus(
    device_hours: Iterable[DeviceHour],
    *,
    period: Period,
    util_pct: float = IDLE_UTIL_PCT,
    min_stretch_hours: int = IDLE_MIN_STRETCH_HOURS,
    min_hours: int = IDLE_MIN_HOURS,
) -> list[Candidate]:
    """GPUs powered but under 5% utilisation for stretches of hours: the facility energy, cost
    and carbon (operational and the embodied share of that time) the idle time wastes. One
    candidate per host, since GPUs are released or powered down host by host."""
    by_device = defaultdict(list)
    for fact in device_hours:
        by_device[fact.device_id].append(fact)
    by_host = defaultdict(list)  # host -> [(device's first fact, its idle hours, stretches)]
    for hours in by_device.values():
        stretches = [s for s in _idle_stretches(hours, util_pct) if len(s) >= min_stretch_hours]
        idle = [fact for stretch in stretches for fact in stretch]
        if len(idle) >= min_hours:
            by_host[hours[0].host_id].append((hours, idle, stretches))
    candidates = []
    scale = period.to_month
    for host_id, devices in by_host.items():
        devices.sort(key=lambda d: d[0][0].device_label)
        idle = [fact for _, device_idle, _ in devices for fact in device_idle]
        powered_hours = sum(1 for hours, _, _ in devices for f in hours if f.measured_seconds > 0)
        energy = sum(f.energy_facility_kwh for f in idle)
        operational = sum(f.operational_kgco2e for f in idle)
        embodied = sum(f.embodied_kgco2e for f in idle)
        cost = sum(f.cost for f in idle)
        coverage = _mean(f.coverage for f in idle)
        labels = [hours[0].device_label for hours, _, _ in devices]
        host = devices[0][0][0].host_label
        single = devices[0][0][0].device_id if len(devices) == 1 else None
        target = labels[0] if single else f"{host} ({len(devices)} GPUs)"
        candidates.append(
            Candidate(
                kind="idle_gpu",
                target_key=f"host:{host_id}",
                target=target,
                title=(
                    f"{target}: {len(idle)} idle GPU-hours in {period.days:.0f} days "
                    f"(under {util_pct:g}% utilisation)"
                ),
                action=(
                    "Release or power down idle GPUs when nothing runs on them (or give their "
                    "time to a queue that needs it); check why allocations hold them."
                ),
                evidence={
                    "period": period.as_evidence(),
                    "devices": labels,
                    "idle_hours_per_device": {
                        hours[0].device_label: len(device_idle) for hours, device_idle, _ in devices
                    },
                    "idle_threshold_util_pct": util_pct,
                    "min_stretch_hours": min_stretch_hours,
                    "idle_gpu_hours": len(idle),
                    "powered_gpu_hours": powered_hours,
                    "idle_share_pct": _r(100 * len(idle) / powered_hours, 1),
                    "longest_idle_stretch_hours": max(
                        len(s) for _, _, stretches in devices for s in stretches
                    ),
                    "idle_mean_power_w": _r(
                        _mean(f.mean_power_w for f in idle if f.mean_power_w is not None), 1
                    ),
                    "idle_facility_energy_kwh": _r(energy),
                    "idle_operational_kgco2e": _r(operational),
                    "idle_embodied_kgco2e": _r(embodied),
                    "idle_cost": _r(cost, 2),
                    "coverage_pct": _r(100 * coverage, 1) if coverage is not None else None,
                },
                monthly_facility_energy_kwh=energy * scale,
                monthly_cost=cost * scale,
                monthly_kgco2e=(operational + embodied) * scale,
                confidence=_confidence(hours=len(idle), coverage=coverage),
                host_id=host_id,
                device_id=single,
            )
        )
    return candidates


# --- Low utilisation ---------------------------------------------------------------------------


def _floor_power_kw(hours: Iterable[DeviceHour]) -> dict[int, float]:
    """Each device's lowest hourly mean power (kW) over well-measured hours: what a GPU draws
    while powered whatever it does, which consolidation saves on the GPUs it frees."""
    floors: dict[int, float] = {}
    for fact in hours:
        if fact.measured_seconds < 1800 or fact.mean_power_w is None:
            continue
        kw = fact.mean_power_w / 1000
        floors[fact.device_id] = min(kw, floors.get(fact.device_id, kw))
    return floors


def low_utilisation(
    project_hours: Iterable[ProjectHour],
    device_hours: Iterable[DeviceHour],
    *,
    period: Period,
    below_pct: float = LOW_UTIL_PCT,
    target_pct: float = CONSOLIDATION_TARGET_PCT,
) -> list[Candidate]:
    """Projects whose GPUs average low utilisation: the work of n GPUs at mean utilisation u fits
    on k = ceil(n x u / target) GPUs; the freed share 1 - k/n of the project's GPU-hours saves
    each GPU's power floor (IT kWh x PUE, priced and carbon-weighted hour by hour) and the
    embodied carbon charged for that time."""
    device_hours = list(device_hours)
    devices = {(f.device_id, f.hour): f for f in device_hours}
    floors = _floor_power_kw(device_hours)
    by_project = defaultdict(list)
    for fact in project_hours:
        if fact.gpu_hours > 0:
            by_project[fact.project_id].append(fact)
    candidates = []
    for project_id, facts in by_project.items():
        weighted = [
            (f.gpu_hours, devices[(f.device_id, f.hour)].util_pct)
            for f in facts
            if (f.device_id, f.hour) in devices
            and devices[(f.device_id, f.hour)].util_pct is not None
        ]
        weight = sum(w for w, _ in weighted)
        if weight <= 0:
            continue
        util = sum(w * u for w, u in weighted) / weight
        gpu_hours = sum(f.gpu_hours for f in facts)
        active_hours = len({f.hour for f in facts})
        concurrent = gpu_hours / active_hours
        needed = max(1, math.ceil(concurrent * util / target_pct - 1e-9))
        freed = 1 - needed / concurrent
        if util >= below_pct or freed <= 0:
            continue
        energy = cost = kg = 0.0
        for fact in facts:
            device = devices.get((fact.device_id, fact.hour))
            floor = floors.get(fact.device_id)
            if device is None or floor is None:
                continue
            facility = fm.facility_kwh(floor * fact.gpu_hours * freed, device.pue)
            energy += facility
            cost += fm.energy_cost(facility, device.price_per_kwh)
            kg += (
                fm.operational_kgco2e(facility, device.grid_gco2e_per_kwh)
                + fact.embodied_kgco2e * freed
            )
        if energy <= 0:
            continue
        label = facts[0].project_label
        scale = period.to_month
        candidates.append(
            Candidate(
                kind="low_utilisation",
                target_key=f"project:{project_id}",
                target=label,
                title=(
                    f"{label}: {concurrent:.1f} GPUs at {util:.0f}% mean utilisation could run "
                    f"on {needed}"
                ),
                action=(
                    f"Consolidate the work onto {needed} GPU(s) (pack jobs, share GPUs with MIG "
                    "or MPS, or shrink the allocation) and release the others."
                ),
                evidence={
                    "period": period.as_evidence(),
                    "mean_util_pct": _r(util, 1),
                    "mean_concurrent_gpus": _r(concurrent, 2),
                    "gpus_needed_at_target": needed,
                    "target_util_pct": target_pct,
                    "freed_share_pct": _r(100 * freed, 1),
                    "project_gpu_hours": _r(gpu_hours, 1),
                    "floor_power_w": _r(
                        1000 * _mean(floors[f.device_id] for f in facts if f.device_id in floors),
                        1,
                    ),
                },
                monthly_facility_energy_kwh=energy * scale,
                monthly_cost=cost * scale,
                monthly_kgco2e=kg * scale,
                confidence="medium" if active_hours >= 24 else "low",
                project_id=project_id,
            )
        )
    return candidates


# --- Power caps --------------------------------------------------------------------------------


def power_caps(
    project_hours: Iterable[ProjectHour],
    device_hours: Iterable[DeviceHour],
    *,
    period: Period,
    saving: TechniqueSaving,
    near_limit: float = NEAR_POWER_LIMIT,
    min_hours: int = POWER_CAP_MIN_HOURS,
    cap_share: float = POWER_CAP_SHARE,
) -> list[Candidate]:
    """Hosts whose GPUs run training near their power limit: the published saving of a cap
    (midpoint of the technique's indicative range) applied to those hours' energy, cost and
    operational carbon. Grouped by host, since a cap is set host by host."""
    training = defaultdict(lambda: defaultdict(float))  # (device, hour) -> project -> gpu-hours
    for fact in project_hours:
        if fact.phase in ("training", "fine_tuning") and fact.gpu_hours > 0:
            training[(fact.device_id, fact.hour)][(fact.project_id, fact.project_label)] += (
                fact.gpu_hours
            )
    by_host = defaultdict(list)
    for fact in device_hours:
        if (fact.device_id, fact.hour) in training:
            by_host[fact.host_id].append(fact)
    candidates = []
    for host_id, hours in by_host.items():
        near = [
            f
            for f in hours
            if f.power_limit_w
            and f.mean_power_w is not None
            and f.mean_power_w >= near_limit * f.power_limit_w
        ]
        if len(near) < min_hours:
            continue
        energy = sum(f.energy_facility_kwh for f in near)
        cost = sum(f.cost for f in near)
        operational = sum(f.operational_kgco2e for f in near)
        projects = Counter()
        for f in near:
            projects.update(training[(f.device_id, f.hour)])
        (project_id, project_label), _ = projects.most_common(1)[0]
        limits = sorted({f.power_limit_w for f in near})
        devices = sorted({f.device_label for f in near})
        host = hours[0].host_label
        fraction = saving.midpoint
        scale = period.to_month
        cap_text = ", ".join(f"{cap_share * limit:.0f} W" for limit in limits)
        candidates.append(
            Candidate(
                kind="power_cap",
                target_key=f"host:{host_id}",
                target=host,
                title=(
                    f"{host}: {len(devices)} GPU(s) train near their power limit for "
                    f"{len(near)} GPU-hours"
                ),
                action=(
                    f"Cap the training GPUs at about {cap_share:.0%} of their limit "
                    f"({cap_text}; nvidia-smi -pl) and compare energy per unit before and after; "
                    "expect a few percent longer runs."
                ),
                evidence={
                    "period": period.as_evidence(),
                    "devices": devices,
                    "main_project": project_label,
                    "hours_near_limit": len(near),
                    "training_hours": len(hours),
                    "near_limit_threshold_pct": 100 * near_limit,
                    "mean_power_w": _r(_mean(f.mean_power_w for f in near), 1),
                    "power_limit_w": limits,
                    "facility_energy_near_limit_kwh": _r(energy),
                    "saving_assumed_pct": _r(100 * fraction, 1),
                    "saving_range": saving.label,
                    "source": saving.source,
                },
                monthly_facility_energy_kwh=energy * fraction * scale,
                monthly_cost=cost * fraction * scale,
                monthly_kgco2e=operational * fraction * scale,
                confidence="medium",
                project_id=project_id,
                host_id=host_id,
            )
        )
    return candidates


# --- Carbon-aware timing -----------------------------------------------------------------------


def shifted_grams(days: list[tuple[list[float], list[float]]], shift: int) -> float:
    """gCO2e of daily energy profiles moved `shift` hours later, wrapping round the day.

    days: (kWh for each of 24 hours, gCO2e/kWh for each of 24 hours) per day. A daily schedule
    moved past midnight lands at the start of the day, standing for the next day's same hours.
    """
    return sum(kwh[h] * grid[(h + shift) % 24] for kwh, grid in days for h in range(24) if kwh[h])


def best_daily_shift(days: list[tuple[list[float], list[float]]]) -> tuple[int, float]:
    """The one shift of the daily schedule (-12..+11 h) with the least carbon, and its grams.
    Ties keep the smallest move."""
    best_shift, best_grams = 0, shifted_grams(days, 0)
    for shift in sorted(range(-12, 12), key=abs):
        grams = shifted_grams(days, shift)
        if grams < best_grams - 1e-9:
            best_shift, best_grams = shift, grams
    return best_shift, best_grams


def carbon_aware_timing(
    project_hours: Iterable[ProjectHour],
    intensity: dict[int, dict[datetime, float]],
    *,
    period: Period,
    phases: tuple[str, ...] = FLEXIBLE_PHASES,
    min_share: float = TIMING_MIN_SHARE,
) -> list[Candidate]:
    """Flexible work (training, fine-tuning, data preparation, batch evaluation) in dirty hours:
    over the days with a full hourly grid series for its site, the project's daily schedule is
    moved by the one shift (a few hours earlier or later) that gives the least carbon; the
    difference is what the shift saves.

    Only the movable energy shifts: what lies above the day's lowest hour. A GPU allocated all
    day draws its idle floor wherever the job runs.

    intensity: site id -> {hour: gCO2e/kWh} of the hourly imported series only (no annual
    fallback: without an hourly series there is nothing to shift towards).
    """
    days = defaultdict(lambda: defaultdict(float))  # (project, site, day) -> hour -> kWh
    labels = {}
    for fact in project_hours:
        if fact.phase not in phases or fact.site_id not in intensity:
            continue
        if fact.energy_facility_kwh <= 0:
            continue
        hour = fact.hour.astimezone(UTC)
        days[(fact.project_id, fact.site_id, hour.date())][hour.hour] += fact.energy_facility_kwh
        labels[fact.project_id] = fact.project_label
    profiles = defaultdict(list)  # project -> [(movable kWh[24], gCO2e/kWh[24])]
    for (project_id, site_id, day), by_hour in days.items():
        series = [
            intensity[site_id].get(datetime(day.year, day.month, day.day, h, tzinfo=UTC))
            for h in range(24)
        ]
        if any(value is None for value in series):
            continue  # a day without a full hourly series cannot be compared fairly
        energy = [by_hour.get(h, 0.0) for h in range(24)]
        floor = min(energy)
        movable = [e - floor for e in energy]
        if max(movable) > 0:
            profiles[project_id].append((movable, series))
    candidates = []
    for project_id, project_days in profiles.items():
        now_grams = shifted_grams(project_days, 0)
        shift, best_grams = best_daily_shift(project_days)
        saved_kg = (now_grams - best_grams) / 1000
        now_kg = now_grams / 1000
        if now_kg <= 0 or saved_kg <= 0 or saved_kg < min_share * now_kg:
            continue
        kwh = sum(sum(movable) for movable, _ in project_days)
        label = labels[project_id]
        move = f"{abs(shift)} h {'later' if shift > 0 else 'earlier'}"
        candidates.append(
            Candidate(
                kind="carbon_aware_timing",
                target_key=f"project:{project_id}",
                target=label,
                title=(
                    f"{label}: running its daily jobs {move} would cut their carbon by "
                    f"{100 * saved_kg / now_kg:.0f}%"
                ),
                action=(
                    f"Move the flexible jobs' schedule {move} (cron time or a carbon-aware "
                    "scheduler), into the hours the grid series shows cleaner."
                ),
                evidence={
                    "period": period.as_evidence(),
                    "days_analysed": len(project_days),
                    "movable_facility_energy_kwh": _r(kwh),
                    "movable_energy_now_kgco2e": _r(now_kg),
                    "movable_energy_shifted_kgco2e": _r(best_grams / 1000),
                    "now_mean_g_per_kwh": _r(now_grams / kwh, 1),
                    "shifted_mean_g_per_kwh": _r(best_grams / kwh, 1),
                    "shift_hours": shift,
                },
                monthly_facility_energy_kwh=0.0,
                monthly_cost=0.0,
                monthly_kgco2e=saved_kg * period.to_month,
                confidence=(
                    "high"
                    if len(project_days) >= 14
                    else "medium"
                    if len(project_days) >= 3
                    else "low"
                ),
                project_id=project_id,
            )
        )
    return candidates


# --- Site choice -------------------------------------------------------------------------------


def site_choice(
    project_hours: Iterable[ProjectHour],
    sites: list[SiteFactors],
    *,
    period: Period,
    min_share: float = SITE_MIN_SHARE,
) -> list[Candidate]:
    """The same IT energy at another of the organisation's sites: facility energy IT x PUE,
    carbon x the zone's annual intensity, cost x the site's price, compared like for like with
    the current site's annual factors. The cleanest alternative wins; failing one, the cheapest."""
    by_site = {site.site_id: site for site in sites}
    it_energy = defaultdict(float)  # (project, site) -> IT kWh
    labels = {}
    for fact in project_hours:
        if fact.site_id in by_site:
            it_energy[(fact.project_id, fact.site_id)] += fact.energy_it_kwh
            labels[fact.project_id] = fact.project_label
    candidates = []
    for (project_id, site_id), it_kwh in it_energy.items():
        if it_kwh <= 0:
            continue
        here = by_site[site_id]

        def footprint(site, it_kwh=it_kwh):
            facility = fm.facility_kwh(it_kwh, site.pue)
            return (
                facility,
                fm.operational_kgco2e(facility, site.gco2e_per_kwh),
                fm.energy_cost(facility, site.price_per_kwh),
            )

        now_kwh, now_kg, now_cost = footprint(here)
        options = []
        for other in sites:
            if other.site_id == site_id:
                continue
            kwh, kg, cost = footprint(other)
            options.append((other, now_kwh - kwh, now_kg - kg, now_cost - cost))
        cleaner = [o for o in options if o[2] >= min_share * now_kg and o[2] > 0]
        # A cheaper site is proposed only where it emits no more: never trade carbon for money.
        cheaper = [o for o in options if o[3] >= min_share * now_cost and o[3] > 0 and o[2] >= 0]
        if cleaner:
            best = max(cleaner, key=lambda o: o[2])
        elif cheaper:
            best = max(cheaper, key=lambda o: o[3])
        else:
            continue
        other, saved_kwh, saved_kg, saved_cost = best
        label = labels[project_id]
        scale = period.to_month
        candidates.append(
            Candidate(
                kind="site_choice",
                target_key=f"project:{project_id}:site:{site_id}",
                target=f"{label} at {here.name}",
                title=f"{label}: running at {other.name} instead of {here.name}",
                action=(
                    f"Move the work to {other.name} where data residency, latency and capacity "
                    "allow."
                ),
                evidence={
                    "period": period.as_evidence(),
                    "it_energy_kwh": _r(it_kwh),
                    "current_site": here.name,
                    "current_pue": here.pue,
                    "current_g_per_kwh": here.gco2e_per_kwh,
                    "current_price_per_kwh": here.price_per_kwh,
                    "current_sources": here.sources,
                    "proposed_site": other.name,
                    "proposed_pue": other.pue,
                    "proposed_g_per_kwh": other.gco2e_per_kwh,
                    "proposed_price_per_kwh": other.price_per_kwh,
                    "proposed_sources": other.sources,
                },
                monthly_facility_energy_kwh=saved_kwh * scale,
                monthly_cost=saved_cost * scale,
                monthly_kgco2e=saved_kg * scale,
                confidence="medium",
                project_id=project_id,
            )
        )
    return candidates


# --- Optimisation candidates -------------------------------------------------------------------


def optimisation_candidates(
    projects: Iterable[ProjectMonth],
    *,
    period: Period,
    saving: TechniqueSaving,
    limit: int = CANDIDATES_MAX,
) -> list[Candidate]:
    """Inference projects without any recorded optimisation, the most energy-hungry first: the
    what-if saving of the technique (midpoint of its indicative range) on their energy."""
    eligible = [
        p
        for p in projects
        if p.phase == "inference" and not p.has_optimisation and p.energy_facility_kwh > 0
    ]

    eligible.sort(key=lambda p: p.energy_facility_kwh, reverse=True)
    candidates = []
    fraction = saving.midpoint
    scale = period.to_month
    for project in eligible[:limit]:
        unit = project.work_unit or "unit of work"
        kwh_per_unit = per_unit(project.energy_facility_kwh, project.units)
        candidates.append(
            Candidate(
                kind="optimisation_candidate",
                target_key=f"project:{project.project_id}:{saving.technique}",
                target=project.project_label,
                title=(
                    f"{project.project_label}: inference with no recorded optimisation; "
                    f"{saving.technique} typically saves {saving.label}"
                ),
                action=(
                    f"Try {saving.technique} (INT8) on the served model, record it as an "
                    "optimisation and let the product measure energy per unit before and after."
                ),
                evidence={
                    "period": period.as_evidence(),
                    "facility_energy_kwh": _r(project.energy_facility_kwh),
                    "units": _r(project.units, 1),
                    "work_unit": unit,
                    "facility_energy_wh_per_unit": _r(1000 * kwh_per_unit, 4)
                    if kwh_per_unit
                    else None,
                    "saving_assumed_pct": _r(100 * fraction, 1),
                    "saving_range": saving.label,
                    "source": saving.source,
                },
                monthly_facility_energy_kwh=project.energy_facility_kwh * fraction * scale,
                monthly_cost=project.cost * fraction * scale,
                monthly_kgco2e=project.kgco2e * fraction * scale,
                confidence="low",
                project_id=project.project_id,
            )
        )
    return candidates


# --- Hardware lifetime -------------------------------------------------------------------------


def hardware_lifetime(
    hosts: Iterable[HostLife],
    *,
    period: Period,
    extension_years: float = LIFETIME_EXTENSION_YEARS,
    target_util_pct: float = LIFETIME_TARGET_UTIL_PCT,
) -> list[Candidate]:
    """Hosts whose embodied carbon outweighs their operational carbon: embodied carbon per hour
    is TE / (L x 8760), so keeping the hardware `extension_years` longer lowers it by
    extension / (L + extension). Raising utilisation spreads it over more work (evidence only)."""
    candidates = []
    for host in hosts:
        if host.embodied_kgco2e <= 0 or host.embodied_kgco2e < host.operational_kgco2e:
            continue
        life = host.lifetime_years
        fraction = extension_years / (life + extension_years)
        monthly_embodied = host.embodied_kgco2e * period.to_month
        evidence = {
            "period": period.as_evidence(),
            "embodied_kgco2e": _r(host.embodied_kgco2e),
            "operational_kgco2e": _r(host.operational_kgco2e),
            "lifetime_years": life,
            "lifetime_source": host.lifetime_source,
            "extended_lifetime_years": life + extension_years,
            "embodied_reduction_pct": _r(100 * fraction, 1),
            "mean_util_pct": _r(host.mean_util_pct, 1),
        }
        if host.mean_util_pct is not None and 0 < host.mean_util_pct < target_util_pct:
            evidence["embodied_per_unit_reduction_at_target_util_pct"] = _r(
                100 * (1 - host.mean_util_pct / target_util_pct), 1
            )
            evidence["target_util_pct"] = target_util_pct
        candidates.append(
            Candidate(
                kind="hardware_lifetime",
                target_key=f"host:{host.host_id}",
                target=host.host_label,
                title=(
                    f"{host.host_label}: embodied carbon outweighs operational; keep it "
                    f"{extension_years:g} year(s) longer"
                ),
                action=(
                    f"Plan to keep {host.host_label} in service {life + extension_years:g} years "
                    f"instead of {life:g}, and raise its utilisation (towards "
                    f"{target_util_pct:.0f}%) rather than buying more hardware."
                ),
                evidence=evidence,
                monthly_facility_energy_kwh=0.0,
                monthly_cost=0.0,
                monthly_kgco2e=monthly_embodied * fraction,
                confidence="medium",
                host_id=host.host_id,
            )
        )
    return candidates
