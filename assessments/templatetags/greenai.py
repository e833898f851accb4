"""Template helpers: numbers with units, table cells, URLs that keep the page filters."""

from datetime import date, datetime

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from assessments.footprint.range_words import range_text, split_range

register = template.Library()

FILTER_KEYS = ("start", "end", "team")
MISSING = "–"


def format_number(value, digits: int = 1) -> str:
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and digits == 0:
        return f"{value:,}"
    value = float(value)
    if digits > 0 and value != 0 and abs(value) < 10 ** (-digits):
        return f"{value:.{digits}g}"  # keep tiny values (SCI per unit) readable, not 0.00
    return f"{value:,.{digits}f}"


@register.filter
def num(value, digits=1):
    return format_number(value, int(digits))


def format_with_range(value, bounds, digits: int = 1, unit: str = "") -> str:
    """'1,234.5 kgCO2e (987.6–1,610.2)': the value, its unit, then its low and high in the same
    format (footprint.range_words); just the value where `bounds` (anything with .low and .high,
    such as ScopeFigures.ranges' values) is None."""
    text = format_number(value, digits)
    if text == MISSING:
        return text
    if unit:
        text = f"{text} {unit}"
    if bounds is None:
        return text
    return range_text(text, format_number(bounds.low, digits), format_number(bounds.high, digits))


@register.simple_tag
def qty(value, unit: str, digits: int = 1, bounds=None):
    """A number and its unit, 1,234.5 kWh; with `bounds`, 1,234.5 kWh (1,172.8–1,296.2)."""
    return format_with_range(value, bounds, digits, unit)


@register.filter
def range_below(text: str):
    """A figure written with its range, '12.4 t (9.8–16.1)', as the value with the range on a
    line of its own below (a narrow table cell or tile of the printed report)."""
    value, bounds = split_range(str(text))
    if not bounds:
        return value
    return format_html('{}<span class="range">{}</span>', value, bounds)


@register.filter
def delta(value):
    """A signed percentage change, or a dash where there is nothing to compare."""
    if value is None:
        return MISSING
    return f"{value:+.1f} %"


@register.filter
def delta_class(value):
    """Less is better for energy, carbon and cost."""
    if value is None or abs(value) < 0.05:
        return "delta-flat"
    return "delta-down" if value < 0 else "delta-up"


@register.simple_tag
def cell(row: dict, column, links: dict):
    value = row.get(column.key)
    if column.digits is not None and not isinstance(value, str):
        # A figure's range where the row carries one (scope_breakdown's per-row "ranges").
        bounds = (row.get("ranges") or {}).get(column.key)
        text = format_with_range(value, bounds, column.digits)
    elif isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M")
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = MISSING if value in (None, "") else str(value)
    url_key = links.get(column.key)
    if url_key and row.get(url_key):
        return format_html('<a href="{}">{}</a>', row[url_key], text)
    return text


@register.simple_tag(takes_context=True)
def keep_filters(context) -> str:
    """The current filters as a query string ('?start=...&end=...'), for links between pages."""
    request = context.get("request")
    if request is None:
        return ""
    params = {key: request.GET[key] for key in FILTER_KEYS if request.GET.get(key)}
    return f"?{urlencode(params)}" if params else ""


@register.simple_tag(takes_context=True)
def chart_url(context, name: str, project_slug: str = "", query: str = "") -> str:
    query = query or context.get("filter_query", "")
    if project_slug:
        url = reverse("project_chart", args=[project_slug, name])
    else:
        url = reverse("chart", args=[name])
    return f"{url}?{query}" if query else url


@register.simple_tag(takes_context=True)
def csv_url(context, name: str, project_slug: str = "") -> str:
    query = context.get("filter_query", "")
    if project_slug:
        url = reverse("export_project_csv", args=[project_slug, name])
    else:
        url = reverse("export_csv", args=[name])
    return f"{url}?{query}" if query else url
