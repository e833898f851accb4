"""A scope's figures over a period: the one selector every surface reads (docs/architecture.md).

The overview's tiles, the team and project pages, the CSV exports, the read API, the monthly
report and the decisions' project totals all ask `scope_figures()` (`scope_figures_over()` for
several periods of one scope, read together; for a table split by team, phase, site or
project, `scope_breakdown()`, which applies the same rules per row), so a figure cannot mean
one thing on a page and another in the API. The rules (docs/methodology.md):

- Facts: whole UTC days are read from the daily aggregates, other periods from the hourly facts
  (both sum the same hours).
- A fleet scope (the organisation, a site, a host, a hardware model) also carries the embodied
  carbon of its in-service hours that no fact measured (footprint.selectors.unmeasured_embodied).
- CodeCarbon's reported energy counts in the hours no agent measured its project
  (codecarbon.selectors); hosts and hardware models have none (CodeCarbon names no device).
- Work units: each record by the share of its interval in the period, of its project's declared
  kind, measured work winning over posted work for the hours it covers (footprint.work); SCI
  only where the scope's projects (all of them, active or not) declare one unit
  (footprint_math).
- Ranges: every figure's low and high within its inputs' bounds, and the inputs that widen
  total carbon's range most (footprint.scope_ranges, footprint.ranges_math), from one more
  query grouping the facts by host, way of measuring and site: the daily range facts for
  whole days, else the hourly facts.
"""

import functools
import math
import operator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.db.models import F, Q, Sum
from django.db.models.functions import TruncDate, TruncMonth

from assessments.codecarbon.selectors import codecarbon_counted_by, codecarbon_footprints
from assessments.footprint import footprint_math as fm
from assessments.footprint import selectors as in_service
from assessments.footprint.in_service import InServiceRead, in_service_figures
from assessments.footprint.ranges_math import Bounds, Driver
from assessments.footprint.scope_ranges import (
    SUMMED,
    FigureTerms,
    RangeInputs,
    bounds_of,
    drivers_of,
    fact_groups,
    unmeasured_by_class,
)
from assessments.footprint.work import (
    declared_work_units,
    scope_work_over,
    serving_figures,
    work_by_kind,
)
from assessments.models import (
    MEASURE_FIELDS,
    DailyDeviceFact,
    DailyHostRangeFact,
    DailyProjectFact,
    DailyRangeFact,
    HardwareModel,
    HourlyDeviceFact,
    HourlyProjectFact,
    Project,
    Site,
    Team,
    WorkRecord,
)
from collectors.models import Device, Host


@dataclass(frozen=True)
class Scope:
    """What the figures are of: nothing set is the organisation. Project, team and phase are
    project scopes (their facts); site, host and hardware model are fleet scopes (their devices'
    facts and in-service hours). A site may also narrow a project scope."""

    project: Project | None = None
    team: Team | None = None
    phase: str | None = None
    site: Site | None = None
    host: Host | None = None
    hardware_model: HardwareModel | None = None

    @classmethod
    def of(cls, *, project=None, team=None, phase=None, site=None, host=None, hardware_model=None):
        """A scope from instances or their keys (project/team slug, site name, host name,
        hardware model name); an unknown key raises the model's DoesNotExist."""
        return cls(
            project=_resolve(Project, project, "slug"),
            team=_resolve(Team, team, "slug"),
            phase=phase or None,
            site=_resolve(Site, site, "name"),
            host=_resolve(Host, host, "hostname"),
            hardware_model=_resolve(HardwareModel, hardware_model, "name"),
        )

    @property
    def is_fleet(self) -> bool:
        return self.project is None and self.team is None and self.phase is None

    @property
    def is_organisation(self) -> bool:
        return self.is_fleet and self.site is None and not self.by_device

    @property
    def by_device(self) -> bool:
        return self.host is not None or self.hardware_model is not None

    @property
    def text(self) -> str:
        """The scope as budgets and alert rules write it: organisation, team:SLUG, project:SLUG
        (site:, host:, hardware_model: for the fleet scopes)."""
        parts = [
            ("project", getattr(self.project, "slug", None)),
            ("team", getattr(self.team, "slug", None)),
            ("phase", self.phase),
            ("site", getattr(self.site, "name", None)),
            ("host", getattr(self.host, "hostname", None)),
            ("hardware_model", getattr(self.hardware_model, "name", None)),
        ]
        return ",".join(f"{kind}:{key}" for kind, key in parts if key) or "organisation"

    @property
    def label(self) -> str:
        if self.project is not None:
            return f"Project {self.project.name}"
        if self.team is not None:
            return f"Team {self.team.name}"
        return "Organisation" if self.is_organisation else self.text


def _resolve(model, value, key: str):
    if value is None or isinstance(value, model):
        return value
    return model.objects.get(**{key: value})


@dataclass(frozen=True)
class ScopeFigures:
    """A scope's figures over [start, end); names as in the facts (the read API renames them
    once, in as_footprint)."""

    energy_it_kwh: float
    energy_facility_kwh: float
    operational_kgco2e: float
    embodied_kgco2e: float  # measured, plus in-service hours no fact measured (fleet scopes)
    cost: float
    gpu_hours: float
    work_units: float
    work_unit: str | None  # the unit the scope's projects count; None when they differ
    sci: float | None
    coverage: float | None
    unmeasured_embodied_kgco2e: float = 0.0
    # The organisation's and a site's part no project used (None for other scopes).
    unallocated_energy_kwh: float | None = None
    unallocated_embodied_kgco2e: float | None = None
    codecarbon: dict = field(default_factory=dict)
    # Units per kind (requests, tokens: never added together) and per kind the measured,
    # posted and overlapping units (assessments.footprint.work).
    work_units_by_kind: dict = field(default_factory=dict)
    work_by_kind: dict = field(default_factory=dict)
    is_project: bool = False
    # Uncertainty (docs/methodology.md, "Ranges"): {facts' name: Bounds} of scope_ranges.RANGED
    # (sci None without SCI), and the inputs by their share of total carbon's range. Not the
    # spread of factors across days (footprint.selectors.footprint_factors).
    ranges: dict[str, Bounds | None] = field(default_factory=dict)
    range_drivers: tuple[Driver, ...] = ()

    @property
    def total_kgco2e(self) -> float:
        return self.operational_kgco2e + self.embodied_kgco2e

    @property
    def sci_note(self) -> str:
        if self.work_unit is None:
            return "mixed units"
        return "" if self.work_units else "no units of work recorded"

    def as_measures(self) -> dict:
        """The figures under the facts' names, as the pages and tables show them."""
        return {
            **{name: getattr(self, name) for name in MEASURE_FIELDS},
            "total_kgco2e": self.total_kgco2e,
            "work_units": self.work_units,
            "work_unit": self.work_unit or "",
            "sci": self.sci,
            "sci_note": self.sci_note,
            "coverage": self.coverage,
            "ranges": self.ranges,
            "range_drivers": self.range_drivers,
        }

    def as_footprint(self) -> dict:
        """The figures under the read API's names (the one translation)."""
        result = {
            "energy_kwh": self.energy_it_kwh,
            "facility_energy_kwh": self.energy_facility_kwh,
            "operational_kgco2e": self.operational_kgco2e,
            "embodied_kgco2e": self.embodied_kgco2e,
            "total_kgco2e": self.total_kgco2e,
            "cost": self.cost,
            "gpu_hours": self.gpu_hours,
            "work_units": self.work_units,
            "sci": self.sci,
            "coverage": self.coverage,
            "codecarbon": self.codecarbon,
            "work_units_by_kind": self.work_units_by_kind,
            "work_by_kind": self.work_by_kind,
        }
        result["ranges"] = api_ranges(self.ranges)
        result["range_drivers"] = [
            {"input": d.input, "label": d.label, "share": d.share} for d in self.range_drivers
        ]
        if self.is_project:
            result["serving"] = serving_figures(result)
        if self.unallocated_energy_kwh is not None:
            result["unallocated_energy_kwh"] = self.unallocated_energy_kwh
            result["unallocated_embodied_kgco2e"] = self.unallocated_embodied_kgco2e
        return result


# The read API's name of each ranged figure (the facts' names in ScopeFigures.ranges). Counts
# (GPU-hours, work units, coverage) are not uncertain and have no range.
API_RANGE_NAMES = {
    "energy_it_kwh": "energy_kwh",
    "energy_facility_kwh": "facility_energy_kwh",
    "operational_kgco2e": "operational_kgco2e",
    "embodied_kgco2e": "embodied_kgco2e",
    "total_kgco2e": "total_kgco2e",
    "cost": "cost",
    "sci": "sci",
}


def api_ranges(ranges: dict) -> dict:
    """{API name: {"low", "high"} or None} of ranges under the facts' names."""
    return {
        api: (
            None
            if ranges.get(name) is None
            else {"low": ranges[name].low, "high": ranges[name].high}
        )
        for name, api in API_RANGE_NAMES.items()
        if name in ranges
    }


class PageReads:
    """What the several figures of one page read alike whatever their scope's period and split:
    every device's in-service windows (InServiceRead) and the ranges' inputs (RangeInputs:
    sites, hosts and their rates). The overview's month comparison, split tables and unallocated
    part share one, so that each is read once."""

    def __init__(self):
        self._in_service: InServiceRead | None = None
        self.range_inputs = RangeInputs()

    @property
    def in_service(self) -> InServiceRead:
        if self._in_service is None:
            self._in_service = InServiceRead()
        return self._in_service


def _in_service_read(scope: Scope, shared: PageReads | None, wanted: bool):
    """The windows for a scope's figures and ranges where they are wanted: the page's, else
    the organisation's or a site's own read (other scopes' ranges read their hosts' only)."""
    if scope.by_device or not wanted:
        return None
    if shared is not None:
        return shared.in_service
    return InServiceRead() if scope.is_fleet else None


def _range_inputs(scope: Scope, shared: PageReads | None) -> RangeInputs:
    """The page's range inputs; a scope narrowed to devices has its own (their rates only)."""
    if shared is None or scope.by_device:
        return RangeInputs()
    return shared.range_inputs


def scope_figures(
    *, scope: Scope, start: date | datetime, end: date | datetime, with_ranges: bool = True
) -> ScopeFigures:
    """Energy, carbon, cost, work units, SCI and coverage of a scope over [start, end), with
    their ranges (with_ranges False: none, for reads that show no range, such as /metrics)."""
    [figures] = scope_figures_over(scope=scope, periods=[(start, end)], with_ranges=[with_ranges])
    return figures


def scope_figures_over(
    *,
    scope: Scope,
    periods: list[tuple],
    with_ranges: list[bool] | None = None,
    with_details: bool = True,
    shared: PageReads | None = None,
) -> list[ScopeFigures]:
    """scope_figures() of each (start, end) period of one scope, the reads the periods share
    made once for all of them (a month compared with earlier ones pays for one read of the
    facts, not three). with_ranges: per period, whether it carries its ranges (default: all);
    with_details False: no period's coverage nor unallocated part is worked out (None), for a
    read that shows neither. shared: the page's reads, where several figures share them."""
    bounds = []
    for start, end in periods:
        period_start = in_service.as_utc_datetime(start)
        period_end = in_service.as_utc_datetime(end)
        if period_end <= period_start:
            raise ValueError("end must be after start")
        bounds.append((period_start, period_end, in_service._whole_days(period_start, period_end)))
    with_ranges = [True] * len(bounds) if with_ranges is None else with_ranges
    totals = _fact_sums_over(scope, bounds)
    # The windows, read once for the in-service hours of the whole days and for the ranges
    # (neither wanted: not read).
    wanted = any(with_ranges) or (scope.is_fleet and any(days for _, _, days in bounds))
    read = _in_service_read(scope, shared, wanted)
    unmeasured, kept = _unmeasured_over(scope, bounds, with_details, read)
    unallocated = [{} for _ in bounds]
    if with_details:
        unallocated = _unallocated_over(scope, bounds, unmeasured)
    declared = _declared_units(scope)
    works = scope_work_over(_work_records(scope), [period[:2] for period in bounds])
    reported_all = _reported(scope, [period[:2] for period in bounds])
    results = []
    for n, (period_start, period_end, days) in enumerate(bounds):
        sums = totals[n]
        reported = reported_all[n]
        for name, value in reported["counted"].items():
            sums[name] += value
        work = works[n]
        units = work["declared"].values()
        unit = fm.common_unit(declared | work["unit_names"])
        embodied = sums["embodied_kgco2e"] + unmeasured[n]
        work_units = math.fsum(units)
        sci = fm.scope_sci(sums["operational_kgco2e"], embodied, units, unit)
        ranges, drivers = {}, ()
        if with_ranges[n]:
            values = sums | {"embodied_kgco2e": embodied, "sci": sci}
            ranges, drivers = _ranges(
                scope,
                (period_start, period_end, days),
                values,
                (unmeasured[n], work_units, reported["summary"].get("runs", 0)),
                read,
                _range_inputs(scope, shared),
            )
        results.append(
            ScopeFigures(
                **(sums | {"embodied_kgco2e": embodied}),
                work_units=work_units,
                work_unit=unit,
                sci=sci,
                coverage=_coverage(scope, period_start, period_end, days, kept[n])
                if with_details
                else None,
                unmeasured_embodied_kgco2e=unmeasured[n],
                codecarbon=reported["summary"],
                work_units_by_kind=work["work_units_by_kind"],
                work_by_kind=work["work_by_kind"],
                is_project=scope.project is not None,
                ranges=ranges,
                range_drivers=drivers,
                **unallocated[n],
            )
        )
    return results


# A breakdown's key in the daily project facts and in the hourly ones (day and month: the
# trend's buckets, keyed by their first day).
_BREAKDOWN_FIELDS = {
    "team": "team_id",
    "phase": "phase",
    "site": "site_id",
    "project": "project_id",
}


def _breakdown_keys(by: str):
    """(daily key expression or column, hourly key expression or column) of a breakdown."""
    if by == "day":
        return F("day"), TruncDate("hour", tzinfo=UTC)
    if by == "month":
        return TruncMonth("day"), TruncMonth(TruncDate("hour", tzinfo=UTC))
    return _BREAKDOWN_FIELDS[by], _BREAKDOWN_FIELDS[by]


def scope_breakdown(
    *, by: str, scope: Scope, start: date, end: date, with_ranges: bool = True
) -> dict:
    """{key: figures under the facts' names} of a scope's measured facts split by "team",
    "phase", "site" or "project" (their ids, or the phase), or by "day" or "month" (the
    bucket's first day), CodeCarbon's counted energy included as in scope_figures: each row is
    what scope_figures says of that team, phase, site, project or bucket within the scope (the
    un-measured in-service hours belong to no row; the dashboards show them apart), with its
    "ranges" as scope_figures' (with_ranges False: none)."""
    return scope_breakdowns(bys=(by,), scope=scope, start=start, end=end, with_ranges=with_ranges)[
        by
    ]


def scope_breakdowns(
    *,
    bys: tuple[str, ...],
    scope: Scope,
    start: date,
    end: date,
    with_ranges: bool = True,
    shared: PageReads | None = None,
) -> dict[str, dict]:
    """{by: scope_breakdown(by=...)} for several splits of one scope and period: the splits by
    team, phase, site and project from one grouped read of the facts and one of CodeCarbon's,
    their ranges from one read of the daily range facts (a page with several tables pays for
    each once; shared: the page's reads, where other figures of the page share them)."""
    period_start, period_end = in_service.as_utc_datetime(start), in_service.as_utc_datetime(end)
    facts = _facts(_project_part(scope), period_start, period_end, days=True)
    columns = {by: _BREAKDOWN_FIELDS[by] for by in bys if by in _BREAKDOWN_FIELDS}
    result = {by: {} for by in bys}
    sums = {n: Sum(n) for n in MEASURE_FIELDS}
    if columns:
        for row in facts.values(*columns.values()).annotate(**sums).order_by():
            for by, column in columns.items():
                _add_sums(result[by], row[column], row)
    for by in bys:
        if by not in columns:  # a trend's buckets
            periods = facts.annotate(period=_breakdown_keys(by)[0]).values("period")
            for row in periods.annotate(**sums).order_by():
                _add_sums(result[by], row["period"], row)
    reported = {by: {} for by in bys}
    if not scope.by_device:
        # Per site too: the ranges' bounds differ per site.
        splits = [(tuple(columns), tuple(columns.values()))] if columns else []
        splits += [((by,), _breakdown_keys(by)[1]) for by in bys if by not in columns]
        for split, key in splits:
            for (values, site_id), counts in codecarbon_counted_by(
                key,
                start=period_start,
                end=period_end,
                and_site=True,
                **_codecarbon_filter(scope),
            ).items():
                values = values if isinstance(key, tuple) else (values,)
                for by, value in zip(split, values, strict=True):
                    _add_sums(reported[by], (value, site_id), counts)
                    _add_sums(result[by], value, counts)
    for rows in result.values():
        for row in rows.values():
            row["total_kgco2e"] = row["operational_kgco2e"] + row["embodied_kgco2e"]
    if with_ranges:
        _breakdown_ranges(scope, (period_start, period_end), result, reported, shared)
    return result


def _add_sums(rows: dict, key, sums: dict) -> None:
    """Adds a group's sums to the row of `key` (a new row has every measure at 0)."""
    row = rows.setdefault(key, dict.fromkeys(MEASURE_FIELDS, 0.0))
    for name, value in sums.items():
        if name in row:
            row[name] += value or 0.0


def _ranges(scope: Scope, period, values: dict, counts: tuple, read, inputs: RangeInputs):
    """The scope's ranges and range drivers: its facts grouped by host, measurement and site,
    CodeCarbon's counted energy by site, its un-measured in-service embodied carbon by host and
    measurement. counts: (un-measured embodied carbon, work units, CodeCarbon runs) in the
    period; read: the in-service windows of every device, read already (or None)."""
    period_start, period_end, days = period
    unmeasured, work_units, codecarbon_runs = counts
    terms = FigureTerms()
    groups = fact_groups(_range_facts(scope, period_start, period_end, days))
    reported = {}
    if codecarbon_runs and not scope.by_device:
        reported = codecarbon_counted_by(
            "site_id", start=period_start, end=period_end, **_codecarbon_filter(scope)
        )
    device_ids = _scope_devices(scope)
    unmeasured_split = unmeasured_by_class(
        unmeasured, period_start, period_end, site=scope.site, device_ids=device_ids, read=read
    )
    inputs.load_sites({site_id for _, _, site_id, _ in groups} | set(reported))
    inputs.load_hosts(
        {device_class[0] for _, device_class, _, _ in groups}
        | {key[0] for key in unmeasured_split if key is not None},
        device_ids=device_ids,
        read=read,
    )
    for _, device_class, site_id, sums in groups:
        inputs.add_facts(terms, device_class, site_id, sums)
    for site_id, sums in reported.items():
        inputs.add_reported(terms, site_id, sums)
    for device_class, kgco2e in unmeasured_split.items():
        inputs.add_embodied(terms, device_class, kgco2e)
    return bounds_of(values, terms, inputs.inputs, work_units), drivers_of(terms, inputs.inputs)


def _range_facts(scope: Scope, period_start: datetime, period_end: datetime, days: bool):
    """Facts that name their devices' host and measurement: the daily range facts for whole
    days (per host alone for the organisation or a site), else the hourly project facts (all
    sum to the device facts, unallocated included); a scope narrowed to devices reads its
    device facts."""
    if scope.by_device:
        return _facts(scope, period_start, period_end, days)
    if days and scope.is_fleet:
        facts = DailyHostRangeFact.objects.filter(
            day__gte=period_start.date(), day__lt=period_end.date()
        )
        return facts.filter(site=scope.site) if scope.site is not None else facts
    return _facts(_project_part(scope), period_start, period_end, days, ranges=True)


def _breakdown_ranges(
    scope: Scope, period, breakdowns: dict[str, dict], reported: dict, shared: PageReads | None
) -> None:
    """Each breakdown row's ranges under "ranges": the scope's daily range facts grouped by
    host, measurement, site and every breakdown's key in one query; reported: per breakdown,
    CodeCarbon's counted energy by (row key, site id); shared: the page's reads, or None."""
    period_start, period_end = period
    facts = _facts(_project_part(scope), period_start, period_end, days=True, ranges=True)
    columns = {}
    for by in breakdowns:
        daily_key = _breakdown_keys(by)[0]
        if isinstance(daily_key, str):
            columns[by] = daily_key
        else:
            columns[by] = f"range_{by}"
            facts = facts.annotate(**{columns[by]: daily_key})
    groups = fact_groups(facts, tuple(columns.values()))
    inputs = _range_inputs(scope, shared)
    reported_sites = {site_id for counted in reported.values() for _, site_id in counted}
    inputs.load_sites({site_id for _, _, site_id, _ in groups} | reported_sites)
    read = shared.in_service if shared is not None and not scope.by_device else None
    inputs.load_hosts({device_class[0] for _, device_class, _, _ in groups}, read=read)
    for position, (by, rows) in enumerate(breakdowns.items()):
        # The groups of one row that share a host, measurement and site share their inputs:
        # added up first, their terms are worked out once.
        merged: dict = {}
        for keys, device_class, site_id, sums in groups:
            key = (keys[position], device_class, site_id)
            if key in merged:
                merged[key] = {name: merged[key][name] + sums[name] for name in SUMMED}
            else:
                merged[key] = sums
        terms: dict = {}
        for (row_key, device_class, site_id), sums in merged.items():
            inputs.add_facts(terms.setdefault(row_key, FigureTerms()), device_class, site_id, sums)
        for (row_key, site_id), sums in reported.get(by, {}).items():
            inputs.add_reported(terms.setdefault(row_key, FigureTerms()), site_id, sums)
        for row_key, row in rows.items():
            row["ranges"] = bounds_of(row, terms.get(row_key, FigureTerms()), inputs.inputs)


def work_units_by_project(*, projects, start: date, end: date) -> dict[int, float]:
    """Units of work per project id in [start, end) (each record by its share in the period)."""
    records = WorkRecord.objects.filter(project__in=projects)
    return _work_units(records, in_service.as_utc_datetime(start), in_service.as_utc_datetime(end))


# --- one question each -----------------------------------------------------------------------


def _project_part(scope: Scope) -> Scope:
    """A breakdown splits measured facts only: the fleet parts of a scope narrow nothing else."""
    return Scope(project=scope.project, team=scope.team, phase=scope.phase, site=scope.site)


def _facts(
    scope: Scope, period_start: datetime, period_end: datetime, days: bool, ranges: bool = False
):
    """The facts of the scope: per day for whole days, else per hour. Device-narrowed scopes
    read the device facts; the others the project facts (which sum to the device facts,
    unallocated included), kept per host and measurement too for the ranges' days."""
    return _facts_in(scope, [_in_period(period_start, period_end, days)], days, ranges)


def _in_period(period_start: datetime, period_end: datetime, days: bool) -> Q:
    if days:
        return Q(day__gte=period_start.date(), day__lt=period_end.date())
    return Q(hour__gte=period_start, hour__lt=period_end)


def _facts_in(scope: Scope, periods: list[Q], days: bool, ranges: bool = False):
    """_facts() of the scope in any of these periods (_in_period's conditions)."""
    if days:
        if scope.by_device:
            model = DailyDeviceFact
        else:
            model = DailyRangeFact if ranges else DailyProjectFact
    else:
        model = HourlyDeviceFact if scope.by_device else HourlyProjectFact
    facts = model.objects.filter(functools.reduce(operator.or_, periods))
    if scope.by_device:
        return facts.filter(device_id__in=_scope_devices(scope))
    filters = {"project": scope.project, "team": scope.team, "site": scope.site}
    facts = facts.filter(**{name: value for name, value in filters.items() if value is not None})
    return facts.filter(phase=scope.phase) if scope.phase is not None else facts


def _sums_over(scope: Scope, bounds: list[tuple], only: Q | None = None) -> list[dict]:
    """The scope's summed facts in each period (bounds: (start, end, whole days)); only: a
    further condition on the facts. The whole-day periods are summed in one query."""
    results: list = [None] * len(bounds)
    whole = [n for n, (_, _, days) in enumerate(bounds) if days]
    if whole:
        parts = [_in_period(*bounds[n]) for n in whole]
        facts = _facts_in(scope, parts, days=True)
        facts = facts if only is None else facts.filter(only)
        for n, sums in zip(whole, facts.measure_sums_in(parts), strict=True):
            results[n] = sums
    for n, (period_start, period_end, days) in enumerate(bounds):
        if not days:
            facts = _facts(scope, period_start, period_end, days=False)
            results[n] = (facts if only is None else facts.filter(only)).measure_sums()
    return results


def _fact_sums_over(scope: Scope, bounds: list[tuple]) -> list[dict[str, float]]:
    """The summed facts of each period, without their total."""
    results = _sums_over(scope, bounds)
    for sums in results:
        sums.pop("total_kgco2e")
    return results


def _unmeasured_over(
    scope: Scope, bounds: list[tuple], with_coverage: bool = True, read=None
) -> tuple[list[float], list]:
    """Per period: the embodied carbon of the scope's in-service hours no fact measured (fleet
    scopes), and the in-service figures of the organisation's or a site's whole days (None
    for other periods), which give their coverage too (unless with_coverage is False). read:
    the in-service windows of every device, read already."""
    unmeasured, kept = [0.0] * len(bounds), [None] * len(bounds)
    if not scope.is_fleet:
        return unmeasured, kept
    whole = []
    if not scope.by_device:
        whole = [n for n, (_, _, days) in enumerate(bounds) if days]
    if whole:
        # Whole days of the organisation or a site: the in-service rows the rollup keeps give
        # the un-measured embodied carbon and the coverage in one pass.
        found = in_service_figures(
            [(bounds[n][0].date(), bounds[n][1].date()) for n in whole],
            site=scope.site,
            with_coverage=with_coverage,
            read=read,
        )
        for n, figures in zip(whole, found, strict=True):
            kept[n], unmeasured[n] = figures, figures.unmeasured_embodied_kgco2e
    rest = [n for n in range(len(bounds)) if n not in whole]
    if rest:
        found = in_service.unmeasured_embodied(
            [bounds[n][:2] for n in rest], site=scope.site, device_ids=_scope_devices(scope)
        )
        for n, value in zip(rest, found, strict=True):
            unmeasured[n] = value
    return unmeasured, kept


def _scope_devices(scope: Scope) -> list[int] | None:
    """Ids of a host's or a hardware model's devices (None: no device narrowing). A GPU belongs
    to the model its name matches (or its override), as the embodied factors decide."""
    if not scope.by_device:
        return None
    devices = Device.objects.all()
    if scope.host is not None:
        devices = devices.filter(host=scope.host)
    if scope.site is not None:
        devices = devices.filter(host__site=scope.site)
    if scope.hardware_model is None:
        return list(devices.values_list("pk", flat=True))
    from assessments.organisation import factors

    candidates = factors.gpu_candidates()
    model = scope.hardware_model
    return [
        device.pk
        for device in devices.select_related("host", "gpu_model_override")
        if device.host.hardware_model_id == model.pk
        or getattr(factors.gpu_model_for(device, candidates=candidates), "pk", None) == model.pk
    ]


def _codecarbon_filter(scope: Scope) -> dict:
    return {"project": scope.project, "team": scope.team, "site": scope.site, "phase": scope.phase}


def _reported(scope: Scope, periods: list[tuple[datetime, datetime]]) -> list[dict]:
    """CodeCarbon's energy of the scope in each period: what counts, and the summary shown
    beside it."""
    if scope.by_device:
        return [{"counted": {}, "summary": {}} for _ in periods]
    return codecarbon_footprints(periods, **_codecarbon_filter(scope))


def _work_records(scope: Scope):
    """The scope's work records: its projects'; a site's are the organisation's (work is
    recorded per project, not per place); a host or hardware model has none of its own."""
    if scope.by_device:
        return WorkRecord.objects.none()
    filters = {"project": scope.project, "project__team": scope.team, "project__phase": scope.phase}
    return WorkRecord.objects.filter(**{k: v for k, v in filters.items() if v is not None})


def _work_units(records, period_start: datetime, period_end: datetime) -> dict[int, float]:
    """{project id: units of the project's declared kind in the period} of these work records:
    the one count of work units (assessments.footprint.work: each record by the share of its
    interval inside the period, footprint_math.prorated_units; measured work winning over
    posted work for the hours the engine's counters cover)."""
    return declared_work_units(work_by_kind(records, period_start, period_end))[0]


def _declared_units(scope: Scope) -> set[str]:
    """The units of work the scope's projects declare (all of them: a project that recorded no
    work in the period still counts its unit, so its carbon never divides by another's)."""
    if scope.by_device:
        return set()
    filters = {"pk": getattr(scope.project, "pk", None), "team": scope.team, "phase": scope.phase}
    projects = Project.objects.filter(**{k: v for k, v in filters.items() if v is not None})
    return set(projects.values_list("work_unit", flat=True).distinct().order_by())


def _unallocated_over(scope: Scope, bounds: list[tuple], unmeasured: list[float]) -> list[dict]:
    """Per period, the organisation's (or a site's) energy and embodied carbon no project used
    (nothing for other scopes)."""
    if not scope.is_fleet or scope.by_device:
        return [{} for _ in bounds]
    return [
        {
            "unallocated_energy_kwh": sums["energy_it_kwh"],
            "unallocated_embodied_kgco2e": sums["embodied_kgco2e"] + extra,
        }
        for sums, extra in zip(
            _sums_over(scope, bounds, only=Q(project__isnull=True)), unmeasured, strict=True
        )
    ]


def _coverage(scope: Scope, period_start: datetime, period_end: datetime, days: bool, kept=None):
    """Measured / expected device time of the devices that reported for the scope (the devices
    a project scope used); kept: the in-service figures of the organisation's or a site's whole
    days, read already."""
    if kept is not None:
        if not kept.reported:
            return None
        return fm.coverage(kept.measured_seconds, kept.expected_seconds or 0.0)
    # Daily device facts name their devices; project facts are read per hour for that.
    facts = _facts(scope, period_start, period_end, days=days and scope.by_device)
    device_ids = set(facts.values_list("device_id", flat=True).distinct())
    return in_service._coverage(device_ids, period_start, period_end)
