"""The return of an optimisation, measured before and after (pure: plain values in and out).

Method (docs/decisions.md):
- baseline window = [applied_on - baseline_days, applied_on); evaluation window =
  [applied_on + 1 day, applied_on + 1 day + evaluation_days): the change day itself is skipped,
  since it mixes both states. Days from `as_of` on (today and later) are not yet complete and
  are left out.
- per unit = sum of the window's energy (or carbon, or cost) / sum of its units of work;
- monthly saving = (before - after) per unit x monthly volume (units of the last 30 days, or
  the evaluation window's units scaled to 30 days);
- payback = investment / monthly money saved (None where nothing is saved);
  3-year net return = 36 x monthly money saved - investment;
  carbon risk value = kgCO2e saved / 1000 x internal carbon price per tonne;
- uncertainty: bootstrap of the days of each window (1000 draws, fixed seed) -> 5-95% range of
  the monthly saving;
- warnings where coverage is under 80%, a window has fewer than 7 days with units, or no units
  at all (then nothing can be concluded).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from assessments.decisions.technique_savings import TechniqueSaving
from assessments.footprint.footprint_math import per_unit

MIN_COVERAGE = 0.8
MIN_DAYS_WITH_UNITS = 7
BOOTSTRAP_DRAWS = 1000
BOOTSTRAP_SEED = 20221
MONTH_DAYS = 30
MONTHS_IN_3_YEARS = 36


@dataclass(frozen=True)
class DailyValues:
    """One project's day: facility energy, carbon (operational + embodied), cost, units of work.

    coverage is the share of expected samples present in the device-hours the project used that
    day (None on a day without any measured energy).
    """

    day: date
    facility_energy_kwh: float
    kgco2e: float
    cost: float
    units: float
    coverage: float | None = None


@dataclass(frozen=True)
class Range:
    low: float
    high: float


@dataclass(frozen=True)
class WindowMeasure:
    start: date
    end: date  # exclusive
    days_elapsed: int  # days of the window before as_of
    days_with_units: int
    units: float
    facility_energy_kwh: float
    kgco2e: float
    cost: float
    facility_energy_kwh_per_unit: float | None
    kgco2e_per_unit: float | None
    cost_per_unit: float | None
    coverage: float | None

    @property
    def length_days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True)
class RoiResult:
    baseline: WindowMeasure
    evaluation: WindowMeasure
    conclusive: bool
    warnings: list[str]
    investment: float
    monthly_units: float | None
    monthly_units_basis: str
    monthly_facility_energy_kwh: float | None = None
    monthly_cost: float | None = None
    monthly_kgco2e: float | None = None
    facility_energy_kwh_range: Range | None = None
    cost_range: Range | None = None
    kgco2e_range: Range | None = None
    energy_change_pct: float | None = None  # per unit, negative = less energy per unit
    payback_months: float | None = None
    net_return_3y: float | None = None
    carbon_value_per_month: float | None = None  # at the internal carbon price; None without one


@dataclass(frozen=True)
class WhatIf:
    """A planned optimisation's indicative saving: current monthly footprint x typical range."""

    technique: str
    saving: TechniqueSaving
    investment: float
    monthly_facility_energy_kwh: Range
    monthly_cost: Range
    monthly_kgco2e: Range
    payback_months: Range | None  # low = best case (high saving); None where nothing is saved
    net_return_3y: Range
    carbon_value_per_month: Range | None
    warnings: list[str] = field(default_factory=list)


def investment_total(*, engineering_hours: float, hourly_rate: float, other_costs: float) -> float:
    return engineering_hours * hourly_rate + other_costs


def payback_months(investment: float, monthly_money_saved: float | None) -> float | None:
    """Months until the money saved repays the investment; None when it never does."""
    if monthly_money_saved is None or monthly_money_saved <= 0:
        return None
    return investment / monthly_money_saved


def net_return_3y(investment: float, monthly_money_saved: float) -> float:
    return MONTHS_IN_3_YEARS * monthly_money_saved - investment


def carbon_value(kgco2e: float, carbon_price_per_t: float | None) -> float | None:
    if carbon_price_per_t is None:
        return None
    return kgco2e / 1000 * carbon_price_per_t


def windows(
    applied_on: date, baseline_days: int, evaluation_days: int
) -> tuple[tuple[date, date], tuple[date, date]]:
    """(baseline start, end), (evaluation start, end); ends exclusive, the change day skipped."""
    baseline = (applied_on - timedelta(days=baseline_days), applied_on)
    evaluation_start = applied_on + timedelta(days=1)
    return baseline, (evaluation_start, evaluation_start + timedelta(days=evaluation_days))


def measure_window(days: list[DailyValues], start: date, end: date, as_of: date) -> WindowMeasure:
    inside = [d for d in days if start <= d.day < min(end, as_of)]
    units = sum(d.units for d in inside)
    energy = sum(d.facility_energy_kwh for d in inside)
    kgco2e = sum(d.kgco2e for d in inside)
    cost = sum(d.cost for d in inside)
    # Days with units but no measured energy count as uncovered; days with neither are days the
    # project did not run, which is no gap in the data.
    coverage_values = [
        (d.coverage if d.coverage is not None else 0.0)
        for d in inside
        if d.units > 0 or d.facility_energy_kwh > 0
    ]
    return WindowMeasure(
        start=start,
        end=end,
        days_elapsed=max(0, (min(end, as_of) - start).days),
        days_with_units=sum(1 for d in inside if d.units > 0),
        units=units,
        facility_energy_kwh=energy,
        kgco2e=kgco2e,
        cost=cost,
        facility_energy_kwh_per_unit=per_unit(energy, units),
        kgco2e_per_unit=per_unit(kgco2e, units),
        cost_per_unit=per_unit(cost, units),
        coverage=sum(coverage_values) / len(coverage_values) if coverage_values else None,
    )


def _window_warnings(name: str, window: WindowMeasure) -> tuple[list[str], bool]:
    """The window's warnings, and whether it is solid enough to conclude from."""
    warnings = []
    if window.days_elapsed < window.length_days:
        warnings.append(
            f"{name} window still running: {window.days_elapsed} of {window.length_days} days "
            "so far."
        )
    if window.units <= 0:
        warnings.append(
            f"{name} window has no recorded units of work: cannot conclude. Record the "
            "project's work (POST /api/v1/projects/<slug>/work)."
        )
        return warnings, False
    solid = True
    if window.days_with_units < MIN_DAYS_WITH_UNITS:
        solid = False
        warnings.append(
            f"{name} window has only {window.days_with_units} days with units of work (fewer "
            f"than {MIN_DAYS_WITH_UNITS}): too little data to conclude."
        )
    if window.coverage is not None and window.coverage < MIN_COVERAGE:
        solid = False
        warnings.append(
            f"{name} window: measurement coverage {window.coverage:.0%} (under "
            f"{MIN_COVERAGE:.0%}): energy is probably under-counted, too thin to conclude."
        )
    return warnings, solid


def _bootstrap_per_unit(
    days: list[DailyValues], rng: np.random.Generator, draws: int
) -> np.ndarray:
    """draws x 3 per-unit values (energy, carbon, cost) from days resampled with replacement.

    Ratio of sums per draw, the same estimator as the point value; a draw without any units
    gives NaN and is ignored.
    """
    values = np.array(
        [[d.facility_energy_kwh, d.kgco2e, d.cost, d.units] for d in days], dtype=float
    )
    picks = rng.integers(0, len(values), size=(draws, len(values)))
    sums = values[picks].sum(axis=1)  # draws x 4
    units = sums[:, 3:4]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(units > 0, sums[:, :3] / units, np.nan)


def _window_days(days: list[DailyValues], window: WindowMeasure, as_of: date) -> list[DailyValues]:
    return [
        d
        for d in days
        if window.start <= d.day < min(window.end, as_of)
        and (d.units > 0 or d.facility_energy_kwh > 0)
    ]


def measure(
    *,
    daily: Iterable[DailyValues],
    applied_on: date,
    baseline_days: int,
    evaluation_days: int,
    as_of: date,
    investment: float,
    recent_monthly_units: float | None = None,
    carbon_price_per_t: float | None = None,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = BOOTSTRAP_SEED,
) -> RoiResult:
    """Measure an applied optimisation from a project's daily values.

    recent_monthly_units: the project's units over the last 30 days (the current volume); when
    missing or zero, the evaluation window's units scaled to 30 days are used.
    """
    days = sorted(daily, key=lambda d: d.day)
    (b_start, b_end), (e_start, e_end) = windows(applied_on, baseline_days, evaluation_days)
    baseline = measure_window(days, b_start, b_end, as_of)
    evaluation = measure_window(days, e_start, e_end, as_of)
    baseline_warnings, baseline_solid = _window_warnings("Baseline", baseline)
    evaluation_warnings, evaluation_solid = _window_warnings("Evaluation", evaluation)
    warnings = baseline_warnings + evaluation_warnings

    if recent_monthly_units:
        monthly_units, basis = recent_monthly_units, "units of the last 30 days"
    elif evaluation.units > 0 and evaluation.days_elapsed > 0:
        monthly_units = evaluation.units / evaluation.days_elapsed * MONTH_DAYS
        basis = f"evaluation window ({evaluation.days_elapsed} days) scaled to 30 days"
    else:
        monthly_units, basis = None, "no units of work recorded"

    result = dict(
        baseline=baseline,
        evaluation=evaluation,
        investment=investment,
        monthly_units=monthly_units,
        monthly_units_basis=basis,
    )
    if baseline.units <= 0 or evaluation.units <= 0 or not monthly_units:
        return RoiResult(conclusive=False, warnings=warnings, **result)

    saved_per_unit = (
        baseline.facility_energy_kwh_per_unit - evaluation.facility_energy_kwh_per_unit,
        baseline.kgco2e_per_unit - evaluation.kgco2e_per_unit,
        baseline.cost_per_unit - evaluation.cost_per_unit,
    )
    monthly_facility_energy, monthly_kg, monthly_cost = (v * monthly_units for v in saved_per_unit)

    rng = np.random.default_rng(seed)
    before = _bootstrap_per_unit(_window_days(days, baseline, as_of), rng, draws)
    after = _bootstrap_per_unit(_window_days(days, evaluation, as_of), rng, draws)
    spread = (before - after) * monthly_units
    low = np.nanpercentile(spread, 5, axis=0)
    high = np.nanpercentile(spread, 95, axis=0)

    if monthly_cost <= 0:
        warnings.append(
            "The evaluation window costs more per unit than the baseline: no money is saved, "
            "so the investment is never paid back."
        )
    return RoiResult(
        conclusive=baseline_solid and evaluation_solid,
        warnings=warnings,
        monthly_facility_energy_kwh=monthly_facility_energy,
        monthly_cost=monthly_cost,
        monthly_kgco2e=monthly_kg,
        facility_energy_kwh_range=Range(float(low[0]), float(high[0])),
        kgco2e_range=Range(float(low[1]), float(high[1])),
        cost_range=Range(float(low[2]), float(high[2])),
        energy_change_pct=(
            (evaluation.facility_energy_kwh_per_unit / baseline.facility_energy_kwh_per_unit - 1)
            * 100
            if baseline.facility_energy_kwh_per_unit
            else None
        ),
        payback_months=payback_months(investment, monthly_cost),
        net_return_3y=net_return_3y(investment, monthly_cost),
        carbon_value_per_month=carbon_value(monthly_kg, carbon_price_per_t),
        **result,
    )


def cumulative_savings(
    *,
    daily: Iterable[DailyValues],
    start: date,
    as_of: date,
    baseline_cost_per_unit: float,
) -> list[tuple[date, float]]:
    """Money saved so far, day by day from `start`: what the day's units would have cost at the
    baseline rate minus what they did cost. Days without data add nothing."""
    by_day = {d.day: d for d in daily}
    total = 0.0
    points = []
    day = start
    while day < as_of:
        values = by_day.get(day)
        if values is not None:
            total += baseline_cost_per_unit * values.units - values.cost
        points.append((day, total))
        day += timedelta(days=1)
    return points


def what_if(
    *,
    saving: TechniqueSaving,
    current_monthly_facility_energy_kwh: float,
    current_monthly_cost: float,
    current_monthly_kgco2e: float,
    current_monthly_operational_kgco2e: float,
    investment: float,
    carbon_price_per_t: float | None = None,
) -> WhatIf:
    """Indicative saving of a planned optimisation from its technique's published range."""
    if saving.applies_to == "carbon":
        # Shifting work in time saves operational carbon only.
        energy = Range(0.0, 0.0)
        cost = Range(0.0, 0.0)
        kg = Range(
            current_monthly_operational_kgco2e * saving.low,
            current_monthly_operational_kgco2e * saving.high,
        )
    else:
        energy = Range(
            current_monthly_facility_energy_kwh * saving.low,
            current_monthly_facility_energy_kwh * saving.high,
        )
        cost = Range(current_monthly_cost * saving.low, current_monthly_cost * saving.high)
        kg = Range(current_monthly_kgco2e * saving.low, current_monthly_kgco2e * saving.high)
    best, worst = payback_months(investment, cost.high), payback_months(investment, cost.low)
    warnings = []
    if current_monthly_facility_energy_kwh <= 0:
        warnings.append(
            "The project used no measured energy in the last 30 days: the estimate is zero."
        )
    values = None
    if carbon_price_per_t is not None:
        values = Range(
            carbon_value(kg.low, carbon_price_per_t), carbon_value(kg.high, carbon_price_per_t)
        )
    return WhatIf(
        technique=saving.technique,
        saving=saving,
        investment=investment,
        monthly_facility_energy_kwh=energy,
        monthly_cost=cost,
        monthly_kgco2e=kg,
        payback_months=Range(best, worst) if best is not None and worst is not None else None,
        net_return_3y=Range(
            net_return_3y(investment, cost.low), net_return_3y(investment, cost.high)
        ),
        carbon_value_per_month=values,
        warnings=warnings,
    )
