"""Template helpers of the decisions pages: evidence with units, the overview's decisions slot."""

from datetime import datetime

from django import template

from assessments.models import Organisation
from assessments.templatetags.greenai import format_number

register = template.Library()

# Evidence keys end in their unit (recommendation_rules names them so); longest suffix first.
_UNITS = [
    ("_hours_per_device", "h"),
    ("_g_per_kwh", "gCO2e/kWh"),
    ("_price_per_kwh", "{currency}/kWh"),
    ("_wh_per_unit", "Wh per unit"),
    ("_kgco2e", "kgCO2e"),
    ("_kwh", "kWh"),
    ("_pct", "%"),
    ("_hours", "h"),
    ("_years", "years"),
    ("_cost", "{currency}"),
    ("_w", "W"),
    ("_gpus", "GPUs"),
]
_DIGITS = {"%": 1, "h": 0, "W": 0, "GPUs": 2, "kWh": 2, "kgCO2e": 2, "gCO2e/kWh": 0}


def _label(key: str) -> str:
    text = key.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _format(value, unit: str) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_format(item, unit)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_format(item, unit) for item in value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    digits = _DIGITS.get(unit, 3 if "/" in unit or "per" in unit else 2)
    if isinstance(value, int) and digits > 0 and unit in ("h", "GPUs"):
        digits = 0
    text = format_number(value, digits)
    return f"{text} {unit}".strip()


def evidence_items(evidence: dict, currency: str = "") -> list[tuple[str, str]]:
    """(label, value with its unit) for each piece of evidence, the period first."""
    rows = []
    period = evidence.get("period")
    if isinstance(period, dict) and "start" in period:
        start = datetime.fromisoformat(period["start"])
        end = datetime.fromisoformat(period["end"])
        rows.append(
            ("Period (UTC, end exclusive)", f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}")
        )
    for key, value in evidence.items():
        if key == "period" or value is None:
            continue
        unit = ""
        label_key = key
        for suffix, suffix_unit in _UNITS:
            if key.endswith(suffix):
                unit = suffix_unit.format(currency=currency)
                label_key = key[: -len(suffix)]
                break
        if key in ("current_pue", "proposed_pue"):
            unit, label_key = "", key
        rows.append((_label(label_key), _format(value, unit)))
    return rows


@register.simple_tag
def evidence_rows(evidence, currency=""):
    return evidence_items(evidence or {}, currency)


@register.inclusion_tag("assessments/decisions/_overview.html", takes_context=True)
def decisions_overview(context, count: int = 3):
    """Top open recommendations and the verified savings, for the overview page (following
    its team filter where it has one)."""
    from assessments.decisions.selectors import top_recommendations, verified_savings_total

    filters = context.get("filters")
    team = getattr(filters, "team", None)
    return {
        "top": top_recommendations(count, team=team),
        "verified": verified_savings_total(team=team),
        "currency": Organisation.get().currency,
        "team": team,
    }


@register.filter
def windows(measured):
    """A measurement's two windows, named, for one table."""
    return [("Baseline", measured.baseline), ("Evaluation", measured.evaluation)]


@register.filter
def kilo(value):
    """kWh -> Wh, kg -> g: per-unit figures are small."""
    return None if value is None else value * 1000


@register.filter
def percent(share):
    """A share 0..1 as a percentage with one decimal."""
    return format_number(None if share is None else share * 100, 1)


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None
