"""Pure helpers of the monthly report: number formatting, comparisons, sentences, factor digest.

Plain values in, plain values out (no ORM), so the wording and rounding the board reads can be
tested with hand-made figures. assessments.reports.selectors gathers the data and calls these.
"""

import calendar
import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import date

from assessments.dashboards.dashboard_math import delta_pct
from assessments.footprint.range_words import range_text

# Below this coverage (share of expected device time measured) the report warns plainly that
# its figures are lower bounds: a few missing minutes per day are normal agent restarts.
PARTIAL_COVERAGE_BELOW = 0.95

NOT_AVAILABLE = "not available"

_MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str) -> date:
    """'2026-10' -> date(2026, 10, 1); anything else raises ValueError naming the problem."""
    match = _MONTH_PATTERN.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"Month {text!r} is not in the form YYYY-MM (for example 2026-10).")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise ValueError(f"Month {text!r}: {month} is not a month number (01 to 12).")
    if year < 2000:
        raise ValueError(f"Month {text!r}: the year {year} is before 2000.")
    return date(year, month, 1)


def shift_month(month: date, months: int) -> date:
    """The first day of the month `months` after (negative: before) `month`."""
    index = month.year * 12 + (month.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def month_title(month: date) -> str:
    return f"{calendar.month_name[month.month]} {month.year}"


def decimals_for(value: float) -> int:
    """Decimals by magnitude, so small values keep meaning."""
    size = abs(value)
    if size >= 100 or size == 0:
        return 0
    if size >= 10:
        return 1
    if size >= 1:
        return 2
    # Three significant digits for small values (0.00123), never "0" for a non-zero one.
    return min(6, 2 - math.floor(math.log10(size)))


def format_number(value: float | None, decimals: int | None = None) -> str:
    """Thousands separators; decimals by magnitude unless given, so small values keep meaning."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NOT_AVAILABLE
    if decimals is None:
        decimals = decimals_for(value)
    text = f"{value:,.{decimals}f}"
    if text.startswith("-") and float(text[1:].replace(",", "")) == 0:
        text = text[1:]  # "-0" reads as an error to a board member
    return text


def with_bounds(
    text: str, value: float | None, bounds: dict | None, decimals: int | None = None
) -> str:
    """`text` (the value as written) followed by its range, '(987–1,610)', written with the
    value's decimals (footprint.range_words); `bounds` as the read API gives them, {"low",
    "high"}, or None (then `text` alone)."""
    if value is None or not bounds:
        return text
    decimals = decimals_for(value) if decimals is None else decimals
    return range_text(
        text, format_number(bounds["low"], decimals), format_number(bounds["high"], decimals)
    )


def format_quantity(
    value: float | None, unit: str, decimals: int | None = None, bounds: dict | None = None
) -> str:
    """'1,234 kWh', with `bounds` '1,234 kWh (987–1,610)'; a missing value reads 'not
    available', never a zero."""
    if value is None:
        return NOT_AVAILABLE
    return with_bounds(f"{format_number(value, decimals)} {unit}", value, bounds, decimals)


def format_money(value: float | None, currency: str, bounds: dict | None = None) -> str:
    if value is None:
        return NOT_AVAILABLE
    return with_bounds(f"{format_number(value, 2)} {currency}", value, bounds, 2)


def format_percent(share: float | None, decimals: int = 1) -> str:
    """A share 0..1 as '95.2 %'."""
    if share is None:
        return NOT_AVAILABLE
    return f"{share * 100:.{decimals}f} %"


def change_phrase(current: float | None, previous: float | None, formatted_previous: str) -> str:
    """'up 12.5 % from 1,000 kWh' / 'down ...' / 'unchanged from ...'."""
    change = delta_pct(current, previous)
    if change is None:
        return "no comparable figure"
    if abs(change) < 0.05:
        return f"unchanged from {formatted_previous}"
    direction = "up" if change > 0 else "down"
    return f"{direction} {abs(change):.1f} % from {formatted_previous}"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str  # "kWh", "kgCO2e", "money" (the organisation's currency) or "gCO2e per unit"


SUMMARY_METRICS = [
    Metric("energy_kwh", "IT energy", "kWh"),
    Metric("facility_energy_kwh", "Facility energy (IT x PUE)", "kWh"),
    Metric("operational_kgco2e", "Operational carbon", "kgCO2e"),
    Metric("embodied_kgco2e", "Embodied carbon (amortised)", "kgCO2e"),
    Metric("total_kgco2e", "Total carbon", "kgCO2e"),
    Metric("cost", "Energy cost", "money"),
]


SCI_METRIC = Metric("sci", "Software Carbon Intensity (SCI)", "sci")
SCI_UNIT = "gCO2e per unit of work"


def format_metric(
    value: float | None, metric: Metric, currency: str, bounds: dict | None = None
) -> str:
    if metric.unit == "money":
        return format_money(value, currency, bounds)
    if metric.unit == "sci":  # stored in kgCO2e per unit, read in grams
        grams = None if not bounds else {"low": bounds["low"] * 1000, "high": bounds["high"] * 1000}
        return format_quantity(None if value is None else value * 1000, SCI_UNIT, bounds=grams)
    return format_quantity(value, metric.unit, bounds=bounds)


def has_data(footprint: dict | None) -> bool:
    """A period has data when anything was measured in it; zero energy alone is not data."""
    if not footprint:
        return False
    return bool(footprint.get("gpu_hours")) or bool(footprint.get("energy_kwh"))


def comparison_rows(
    current: dict,
    previous: dict | None,
    last_year: dict | None,
    currency: str,
    *,
    include_sci: bool = False,
) -> list[dict]:
    """One row per summary metric: this month, last month and last year, each with its change."""
    rows = []
    for metric in [*SUMMARY_METRICS, *([SCI_METRIC] if include_sci else [])]:
        value = current.get(metric.key)
        bounds = (current.get("ranges") or {}).get(metric.key)
        row = {"label": metric.label, "value": format_metric(value, metric, currency, bounds)}
        for name, other in (("previous", previous), ("last_year", last_year)):
            other_value = other.get(metric.key) if has_data(other) else None
            row[name] = format_metric(other_value, metric, currency)
            change = delta_pct(value, other_value)
            row[f"{name}_change"] = "" if change is None else f"{change:+.1f} %"
        rows.append(row)
    return rows


def summary_sentences(
    *,
    scope: str,
    month: date,
    current: dict,
    previous: dict | None,
    last_year: dict | None,
    currency: str,
) -> list[str]:
    """The executive summary in words; each figure with its unit and its comparisons."""
    title = month_title(month)
    if not has_data(current):
        sentences = [
            f"No measurements were recorded for {scope} in {title}. This report therefore "
            "states no measured energy, carbon or cost figures for the month."
        ]
        if current and current.get("embodied_kgco2e"):
            embodied = format_quantity(current["embodied_kgco2e"], "kgCO2e")
            sentences.append(
                f"The hardware in service during the month still carries {embodied} of "
                "embodied (manufacturing) carbon amortised over its lifetime, unallocated."
            )
        return sentences

    comparisons = [
        (label, other)
        for label, other in (("last month", previous), ("the same month last year", last_year))
        if has_data(other)
    ]

    def compared(key: str, unit: str) -> str:
        """' (up 5.0 % from 100 kWh last month; ...)', or nothing without comparable data."""
        metric = Metric(key, key, unit)
        parts = []
        for label, other in comparisons:
            formatted = format_metric(other.get(key), metric, currency)
            parts.append(f"{change_phrase(current.get(key), other.get(key), formatted)} {label}")
        return f" ({'; '.join(parts)})" if parts else ""

    energy = format_quantity(current.get("energy_kwh"), "kWh")
    facility = format_quantity(current.get("facility_energy_kwh"), "kWh")
    operational = format_quantity(current.get("operational_kgco2e"), "kgCO2e")
    embodied = format_quantity(current.get("embodied_kgco2e"), "kgCO2e")
    total = format_quantity(current.get("total_kgco2e"), "kgCO2e")
    cost = format_money(current.get("cost"), currency)
    sentences = [
        f"In {title}, {scope} used {energy} of IT energy{compared('energy_kwh', 'kWh')}, "
        f"or {facility} at the facility once cooling and power distribution (PUE) are "
        f"included{compared('facility_energy_kwh', 'kWh')}.",
        f"This emitted {operational} of operational carbon"
        f"{compared('operational_kgco2e', 'kgCO2e')} and was charged {embodied} of embodied "
        f"(manufacturing) carbon amortised over the hardware's lifetime"
        f"{compared('embodied_kgco2e', 'kgCO2e')}: {total} in total"
        f"{compared('total_kgco2e', 'kgCO2e')}.",
        f"The energy cost {cost}{compared('cost', 'money')}.",
    ]
    missing = [
        label
        for label, other in (("last month", previous), ("the same month last year", last_year))
        if not has_data(other)
    ]
    if missing:
        sentences.append(f"There are no measurements for {' or '.join(missing)} to compare with.")
    sci = current.get("sci")
    if sci is not None:
        sci_text = format_metric(sci, SCI_METRIC, currency)
        sentences.append(
            f"The Software Carbon Intensity (SCI) was {sci_text}{compared('sci', 'sci')}, "
            f"over {format_number(current.get('work_units'))} units of work."
        )
    else:
        sentences.append(
            "An overall Software Carbon Intensity (SCI) is not stated: projects count different "
            "units of work (or recorded none), so SCI is given per project in the project table."
        )
    return sentences


def coverage_statement(coverage: float | None) -> str | None:
    """A plain warning when measurements are incomplete; None when coverage is complete."""
    if coverage is None:
        return "The share of expected measurements present (coverage) is not known for this month."
    if coverage < PARTIAL_COVERAGE_BELOW:
        return (
            f"Measurements cover only {format_percent(coverage)} of the expected device time. "
            "Energy, carbon and cost figures are lower bounds: time without samples is not "
            "estimated."
        )
    return None


def factor_digest(factor_rows: list[dict]) -> str:
    """A short fingerprint of the factor values a month used, stable across regenerations."""
    canonical = json.dumps(
        sorted(factor_rows, key=lambda row: json.dumps(row, sort_keys=True)),
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def singular(unit_name: str) -> str:
    """'inferences' -> 'inference', for 'gCO2e per inference'; leaves 'kWh' or 'loss' alone."""
    name = (unit_name or "unit").strip()
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name
