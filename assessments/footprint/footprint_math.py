"""The footprint arithmetic of docs/methodology.md, on plain numbers (no Django, no database).

The rollup reads raw samples and factors from the database, and everything that turns them into
numbers lives here so it can be checked by hand:

1. splitting a sample's interval [ts - duration_s, ts) over hours (and over the parts of an hour
   between allocation boundaries), pro rata by time;
2. attributing the energy and time of each part to projects: process tags first (a share of the
   energy and of the time), the untagged rest to the allocations covering that time (split equally
   when several overlap), the remainder to "unallocated" (never dropped);
3. turning energy (kWh) and device-hours into facility energy, operational and embodied carbon
   and cost with the hour's factors;
4. SCI, work units pro rata over a period, in-service hours and coverage.

Times are epoch seconds (floats) in the splitting functions, datetimes elsewhere.
"""

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

SECONDS_PER_HOUR = 3600.0
JOULES_PER_KWH = 3.6e6
HOURS_PER_YEAR = 8760.0
# An hour whose mean GPU utilisation is below this counts as idle (daily facts, recommendations,
# the hardware page and the report all use this one value).
IDLE_UTIL_PCT = 5.0

TAG = "tag"
ALLOCATION = "allocation"
UNALLOCATED = "unallocated"


# --- 1. Splitting intervals -----------------------------------------------------------------


def hour_floor(epoch_s: float) -> float:
    return math.floor(epoch_s / SECONDS_PER_HOUR) * SECONDS_PER_HOUR


def hours_touched(ts_end: float, duration_s: float) -> list[float]:
    """Start of every hour that [ts_end - duration_s, ts_end) overlaps (a point: its own hour)."""
    if duration_s <= 0:
        # A point sample belongs to the hour that ends at or after it: (start, start + 1h].
        return [hour_floor(math.nextafter(ts_end, -math.inf))]
    first = hour_floor(ts_end - duration_s)
    last = hour_floor(math.nextafter(ts_end, -math.inf))
    count = int(round((last - first) / SECONDS_PER_HOUR)) + 1
    return [first + n * SECONDS_PER_HOUR for n in range(count)]


def segments_of_hour(hour: float, cut_points: Iterable[float]) -> list[tuple[float, float]]:
    """[hour, hour + 1h) cut at the points strictly inside it (allocation starts and ends)."""
    end = hour + SECONDS_PER_HOUR
    inner = sorted({point for point in cut_points if hour < point < end})
    bounds = [hour, *inner, end]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def split_sample(
    ts_end: float, duration_s: float, energy_j: float, segments: Sequence[tuple[float, float]]
) -> list[tuple[int, float, float]]:
    """(segment index, seconds covered, joules) for each segment the sample overlaps.

    Energy splits pro rata by time. A sample without duration (not accepted by ingest, but never
    silently lost) puts all its energy, and no time, in the segment (start, end] holding ts.
    """
    parts = []
    if duration_s <= 0:
        for index, (seg_start, seg_end) in enumerate(segments):
            if seg_start < ts_end <= seg_end:
                parts.append((index, 0.0, energy_j))
        return parts
    start = ts_end - duration_s
    for index, (seg_start, seg_end) in enumerate(segments):
        seconds = min(ts_end, seg_end) - max(start, seg_start)
        if seconds > 0:
            parts.append((index, seconds, energy_j * seconds / duration_s))
    return parts


@dataclass
class UsageSums:
    """Energy and time of one device in one segment with one tag set, summed over samples."""

    energy_j: float = 0.0
    seconds: float = 0.0
    util_pct_seconds: float = 0.0  # sum of util_pct x seconds, for the time-weighted mean
    util_seconds: float = 0.0  # seconds that had a utilisation reading

    def add(self, energy_j: float, seconds: float, util_pct: float | None) -> None:
        self.energy_j += energy_j
        self.seconds += seconds
        if util_pct is not None:
            self.util_pct_seconds += util_pct * seconds
            self.util_seconds += seconds


# --- 2. Attribution -------------------------------------------------------------------------


@dataclass(frozen=True)
class TagShare:
    project: str
    phase: str
    share: float


def parse_tags(tags) -> tuple[tuple[TagShare, ...], list[str]]:
    """Tags as stored on a raw sample -> shares that sum to at most 1, and notes on what was odd.

    A tag without a share takes an equal part of what the explicit shares leave; shares summing
    over 1 are scaled down to 1 (ingest refuses that, but old data must not double count).
    """
    notes: list[str] = []
    if not tags:
        return (), notes
    explicit = [t for t in tags if isinstance(t, dict) and t.get("share") is not None]
    implicit = [t for t in tags if isinstance(t, dict) and t.get("share") is None]
    explicit_sum = math.fsum(float(t["share"]) for t in explicit)
    rest = max(0.0, 1.0 - explicit_sum)
    shares = [(t, float(t["share"])) for t in explicit]
    shares += [(t, rest / len(implicit)) for t in implicit]
    total = math.fsum(share for _, share in shares)
    scale = 1.0
    if total > 1.0 + 1e-9:
        scale = 1.0 / total
        notes.append(f"tag shares summed to {total:g}; scaled down to 1")
    parsed = tuple(
        TagShare(str(t.get("project") or ""), str(t.get("phase") or ""), share * scale)
        for t, share in shares
        if share > 0
    )
    return parsed, notes


def normalise_phase(text: str, known: Collection[str]) -> str | None:
    """A tag's phase as one of the known values ("Fine-tuning" -> "fine_tuning"), else None."""
    key = "_".join(text.strip().lower().replace("-", " ").split())
    return key if key in known else None


@dataclass(frozen=True)
class Usage:
    """What attribution needs about one (segment, tag set) of a device-hour."""

    tags: tuple[TagShare, ...]
    allocated_projects: tuple[str, ...]  # projects whose allocations cover the whole segment
    energy_j: float
    seconds: float


@dataclass
class ProjectPart:
    """A project's share of a device-hour (project None = unallocated)."""

    project: str | None
    attribution: str
    phase: str  # the tag's phase; "" = the project's own phase
    energy_j: float = 0.0
    seconds: float = 0.0
    phase_energy: dict = field(default_factory=dict, repr=False)


def attribute(
    usages: Iterable[Usage], known_projects: Collection[str]
) -> tuple[list[ProjectPart], list[str]]:
    """Split each usage among tagged projects, allocations and unallocated (docs/methodology.md, 6).

    The parts of one device-hour sum to its energy and time exactly (up to float rounding): the
    unallocated part is computed as what is left, never dropped. A tag naming an unknown project
    goes to unallocated, with a note. Several allocations over the same time share it equally.
    """
    parts: dict[tuple[str | None, str], ProjectPart] = {}
    notes: set[str] = set()

    def charge(project, attribution, phase, energy_j, seconds):
        key = (project, attribution)
        part = parts.get(key)
        if part is None:
            part = parts[key] = ProjectPart(project, attribution, "")
        part.energy_j += energy_j
        part.seconds += seconds
        part.phase_energy[phase] = part.phase_energy.get(phase, 0.0) + energy_j

    for usage in usages:
        tagged_share = 0.0
        for tag in usage.tags:
            if tag.project in known_projects:
                charge(
                    tag.project,
                    TAG,
                    tag.phase,
                    usage.energy_j * tag.share,
                    usage.seconds * tag.share,
                )
                tagged_share += tag.share
            else:
                notes.add(f"unknown project tag {tag.project!r} counted as unallocated")
        rest = max(0.0, 1.0 - tagged_share)
        if rest <= 0:
            continue
        allocated = sorted(set(usage.allocated_projects))
        if allocated:
            if len(allocated) > 1:
                notes.add(f"overlapping allocations ({', '.join(allocated)}) split equally")
            each = rest / len(allocated)
            for project in allocated:
                charge(project, ALLOCATION, "", usage.energy_j * each, usage.seconds * each)
        else:
            charge(None, UNALLOCATED, "", usage.energy_j * rest, usage.seconds * rest)

    result = []
    for part in parts.values():
        # One row per project and attribution: the phase the most energy was tagged with.
        part.phase = max(part.phase_energy.items(), key=lambda item: item[1])[0]
        result.append(part)
    result.sort(key=lambda p: (p.project is None, p.project or "", p.attribution))
    return result, sorted(notes)


# --- 3. Facts arithmetic ----------------------------------------------------------------------


@dataclass(frozen=True)
class HourFactors:
    """The factors one device-hour is computed with (stored with the fact)."""

    pue: float
    grid_gco2e_per_kwh: float
    price_per_kwh: float
    embodied_kgco2e_per_hour: float


@dataclass(frozen=True)
class Figures:
    energy_it_kwh: float = 0.0
    energy_facility_kwh: float = 0.0
    operational_kgco2e: float = 0.0
    embodied_kgco2e: float = 0.0
    cost: float = 0.0
    gpu_hours: float = 0.0

    @property
    def total_kgco2e(self) -> float:
        return self.operational_kgco2e + self.embodied_kgco2e


def joules_to_kwh(energy_j: float) -> float:
    return energy_j / JOULES_PER_KWH


def facility_kwh(energy_it_kwh: float, pue: float) -> float:
    """E_fac = E_it x PUE: the energy the site draws, cooling and power distribution included."""
    return energy_it_kwh * pue


def operational_kgco2e(facility_energy_kwh: float, grid_gco2e_per_kwh: float) -> float:
    """O = E_fac x I / 1000, with I in gCO2e per kWh."""
    return facility_energy_kwh * grid_gco2e_per_kwh / 1000.0


def energy_cost(facility_energy_kwh: float, price_per_kwh: float) -> float:
    """cost = E_fac x the site's electricity price per kWh."""
    return facility_energy_kwh * price_per_kwh


def figures_for(energy_it_kwh: float, device_hours: float, factors: HourFactors) -> Figures:
    """One device-hour part's figures: facility energy, operational and embodied carbon, cost."""
    facility = facility_kwh(energy_it_kwh, factors.pue)
    return Figures(
        energy_it_kwh=energy_it_kwh,
        energy_facility_kwh=facility,
        operational_kgco2e=operational_kgco2e(facility, factors.grid_gco2e_per_kwh),
        embodied_kgco2e=embodied_for_hours(factors.embodied_kgco2e_per_hour, device_hours),
        cost=energy_cost(facility, factors.price_per_kwh),
        gpu_hours=device_hours,
    )


def sum_figures(items: Iterable[Figures]) -> Figures:
    items = list(items)
    return Figures(
        **{
            name: math.fsum(getattr(item, name) for item in items)
            for name in Figures.__dataclass_fields__
        }
    )


def hours_used_scale(total_seconds: float) -> float:
    """Factor that caps a device-hour's measured time at one hour.

    Intervals of one device should not overlap, but clocks drift: time beyond the hour would
    charge embodied carbon twice, so every part's time is scaled down together (energy is kept).
    """
    if total_seconds <= SECONDS_PER_HOUR:
        return 1.0
    return SECONDS_PER_HOUR / total_seconds


def device_hour_figures(
    parts: Sequence[tuple[float, float]], factors: HourFactors
) -> tuple[Figures, list[Figures]]:
    """(energy_it_kwh, device_hours) per part -> the device's figures and each part's.

    The device figures are the sum of the parts, so project facts add up to the device fact.
    """
    total_hours = math.fsum(hours for _, hours in parts)
    scale = hours_used_scale(total_hours * SECONDS_PER_HOUR)
    part_figures = [figures_for(kwh, hours * scale, factors) for kwh, hours in parts]
    return sum_figures(part_figures), part_figures


def coverage(measured_seconds: float, expected_seconds: float) -> float | None:
    """Share of the expected time that was measured, capped at 1; None when nothing expected."""
    if expected_seconds <= 0:
        return None
    return min(1.0, measured_seconds / expected_seconds)


def mean_util_pct(util_pct_seconds: float, util_seconds: float) -> float | None:
    return util_pct_seconds / util_seconds if util_seconds > 0 else None


# --- 4. Embodied, SCI, work units ----------------------------------------------------------


def embodied_kg_per_hour(
    te_gpu_kg: float,
    life_gpu_years: float | None,
    te_host_kg: float,
    life_host_years: float | None,
    n_devices: int,
) -> float:
    """TE_gpu / (L_gpu * 8760) + TE_host / (n * L_host * 8760), in kgCO2e per hour.

    SCI's M = TE * TiR/EL * RS with one hour reserved: the host's resource share RS is 1/n.
    """
    per_hour = 0.0
    if te_gpu_kg:
        if not life_gpu_years or life_gpu_years <= 0:
            raise ValueError("a GPU with embodied carbon needs a lifetime > 0 years")
        per_hour += te_gpu_kg / (life_gpu_years * HOURS_PER_YEAR)
    if te_host_kg:
        if not life_host_years or life_host_years <= 0:
            raise ValueError("a host with embodied carbon needs a lifetime > 0 years")
        if n_devices < 1:
            raise ValueError("a host's embodied carbon must be shared among at least 1 device")
        per_hour += te_host_kg / (n_devices * life_host_years * HOURS_PER_YEAR)
    return per_hour


def embodied_for_hours(kgco2e_per_hour: float, hours: float) -> float:
    """SCI's M = TE x TiR / EL x RS, with the per-hour rate TE x RS / EL already folded in."""
    return kgco2e_per_hour * hours


def per_unit(amount: float | None, units: float | None) -> float | None:
    """An amount (kWh, kgCO2e, money) per unit of work; None where no work was recorded."""
    if amount is None or units is None or units <= 0:
        return None
    return amount / units


def sci(operational_kgco2e: float, embodied_kgco2e: float, work_units: float) -> float | None:
    """SCI = (O + M) / R in kgCO2e per unit; None when no work was recorded."""
    return per_unit(operational_kgco2e + embodied_kgco2e, work_units)


def common_unit(unit_names: Iterable[str]) -> str | None:
    """The one unit of work a scope's projects count ("" when none counted any); None when
    they count different units (tokens and images)."""
    names = set(unit_names)
    if len(names) > 1:
        return None
    return next(iter(names), "")


def scope_sci(
    operational_kgco2e: float,
    embodied_kgco2e: float,
    project_units: Iterable[float],
    unit: str | None,
) -> float | None:
    """A scope's SCI from its projects' units of work: None when they count different units
    (unit None: carbon per "unit" would add tokens to images) or when no work was recorded."""
    if unit is None:
        return None
    return sci(operational_kgco2e, embodied_kgco2e, math.fsum(project_units))


def overlap_seconds(start: datetime, end: datetime, other_start: datetime, other_end: datetime):
    return max(0.0, (min(end, other_end) - max(start, other_start)).total_seconds())


def prorated_units(
    units: float,
    record_start: datetime,
    record_end: datetime,
    period_start: datetime,
    period_end: datetime,
) -> float:
    """Units of a work record falling in [period_start, period_end), pro rata by time: the
    share of the record's interval inside the period.

    A record of one instant (start == end) counts wholly in the period whose half-open
    [start, end) holds it: at a period's start it is that period's, at its end the next one's.
    Every surface counts work through this rule (footprint.scope_figures).
    """
    if record_end <= record_start:
        return units if period_start <= record_start < period_end else 0.0
    length = (record_end - record_start).total_seconds()
    return units * overlap_seconds(record_start, record_end, period_start, period_end) / length


def day_start(day: date) -> datetime:
    """Midnight UTC of a day: the dashboards, decisions and reports count UTC days."""
    return datetime.combine(day, time(), tzinfo=UTC)


def in_service_hours(
    service_start: datetime,
    service_end: datetime,
    period_start: datetime,
    period_end: datetime,
) -> float:
    return overlap_seconds(service_start, service_end, period_start, period_end) / SECONDS_PER_HOUR


def service_window(
    purchased_at: datetime | None,
    first_seen_at: datetime | None,
    first_fact_at: datetime | None,
    decommissioned_at: datetime | None,
) -> tuple[datetime | None, datetime | None]:
    """[since, until) a device is in service; until None: still in service (until now).

    Since: the host's purchase date if known, else the device's first sighting or its first
    measured hour if earlier (history pushed after registration still counts).
    """
    if purchased_at is not None:
        since = purchased_at
    else:
        known = [moment for moment in (first_seen_at, first_fact_at) if moment is not None]
        since = min(known) if known else None
    return since, decommissioned_at


def service_end(since: datetime, until: datetime | None, now: datetime) -> datetime:
    """Where a window stops counting: its end, never after now, never before its start."""
    return min(until or now, max(now, since))


class DeviceDay(NamedTuple):
    """One measured device-day: what pricing its un-measured hours at its stored rate changes
    against pricing all its in-service hours at the device's current rate."""

    in_service_hours: float
    unmeasured_hours: float
    unmeasured_kgco2e: float  # un-measured hours at the day's stored rate
    current_rate_kgco2e: float  # every in-service hour of the day at the current rate
    open: bool  # still in service after `counted_until`, its un-measured hours growing
    slope_kgco2e_per_hour: float  # how the correction grows per hour after `counted_until`


def measured_device_day(
    since: datetime,
    until: datetime | None,
    day_start_at: datetime,
    counted_until: datetime,
    measured_hours: float,
    stored_rate: float | None,
    current_rate: float,
) -> DeviceDay:
    """A device-day with facts, counted up to `counted_until` (the day's end once it is over,
    else the moment of the computation): in-service hours, those not measured (never below 0:
    hours measured outside the service window do not offset another day's), and their embodied
    carbon at the rate stored with the day's last fact (the current rate if none)."""
    end = service_end(since, until, counted_until)
    hours = in_service_hours(since, end, day_start_at, counted_until)
    rate = current_rate if stored_rate is None else stored_rate
    unmeasured = max(0.0, hours - measured_hours)
    day_end = day_start_at + timedelta(days=1)
    is_open = (
        counted_until < day_end
        and since <= counted_until
        and (until is None or until > counted_until)
    )
    if not is_open:
        slope = 0.0
    elif hours >= measured_hours:
        slope = rate - current_rate
    else:  # measured ahead of the clock: the gap closes before un-measured hours grow again
        slope = -current_rate
    return DeviceDay(
        hours,
        unmeasured,
        embodied_for_hours(rate, unmeasured),
        embodied_for_hours(current_rate, hours),
        is_open,
        slope,
    )


# --- Work of several kinds, measured and posted ------------------------------------------------


@dataclass(frozen=True)
class KindWork:
    """One project's work of one kind over a period (docs/methodology.md, "Work units and their
    kinds"): what the serving engine's counters measured, what was posted by hand outside the
    hours they cover, and the posted units inside those hours, shown and never added."""

    measured: float = 0.0
    posted: float = 0.0
    overlap: float = 0.0

    @property
    def units(self) -> float:
        return self.measured + self.posted

    @property
    def source(self) -> str | None:
        """ "measured", "posted", "measured+posted" or None (no work)."""
        present = [name for name in ("measured", "posted") if getattr(self, name) > 0]
        return "+".join(present) or None


def posted_outside_measured(
    units: float,
    record_start: datetime,
    record_end: datetime,
    period_start: datetime,
    period_end: datetime,
    measured_hours: Collection[datetime],
) -> tuple[float, float]:
    """(counted, overlap) units of a posted record in the period: the part falling in hours
    the engine's counters measured is the overlap, the rest counts. measured_hours holds the
    starts of those UTC hours."""
    in_period = prorated_units(units, record_start, record_end, period_start, period_end)
    overlap = 0.0
    for hour in measured_hours:
        lo, hi = max(hour, period_start), min(hour + timedelta(hours=1), period_end)
        if lo < hi:
            overlap += prorated_units(units, record_start, record_end, lo, hi)
    overlap = min(overlap, in_period)
    return in_period - overlap, overlap


def per_thousand_and_million(
    energy_kwh: float, kgco2e: float, requests: float, output_tokens: float
) -> dict[str, float | None]:
    """Energy and carbon per 1,000 requests and per 1 M output tokens; None without work."""
    return {
        "kwh_per_1k_requests": _scaled(per_unit(energy_kwh, requests), 1_000),
        "kgco2e_per_1k_requests": _scaled(per_unit(kgco2e, requests), 1_000),
        "kwh_per_1m_output_tokens": _scaled(per_unit(energy_kwh, output_tokens), 1_000_000),
        "kgco2e_per_1m_output_tokens": _scaled(per_unit(kgco2e, output_tokens), 1_000_000),
    }


def cost_per_1k_requests(cost: float, requests: float) -> float | None:
    """Money per 1,000 requests (the serving cost over the requests it served); None without."""
    return _scaled(per_unit(cost, requests), 1_000)


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor
