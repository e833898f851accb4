"""Rendering of the monthly report: HTML from the template, PDF with WeasyPrint, and the dashboards'
figures drawn as SVG sized for print."""

import logging
import re
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.template.loader import render_to_string

from assessments.ai_systems.comparison import scope_version_rows
from assessments.dashboards import charts
from assessments.dashboards import selectors as dashboards
from assessments.models import (
    Team,
)
from assessments.reports.svg_export import figures_to_svg


class _SvgStyleNoise(logging.Filter):
    """WeasyPrint's HTML CSS parser warns about every SVG presentation property (fill, stroke)
    in the charts' inline SVG, which its SVG renderer then applies; those warnings are noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Ignored `") and "unknown property" in message)


logging.getLogger("weasyprint").addFilter(_SvgStyleNoise())
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)  # "Step 5 - ..." per page

# Charts are drawn at this width in CSS pixels and scaled to the text column (about 170 mm):
# at 700 px the charts' 12 px labels print at about 8 pt.
CHART_WIDTH_PX = 700
CHART_HEIGHT_PX = 270
SMALL_CHART_HEIGHT_PX = 230


def render_html(context: dict) -> str:
    return render_to_string("reports/monthly_report.html", context)


def static_roots() -> list[Path]:
    return [Path(path).resolve() for path in (*settings.STATICFILES_DIRS, settings.STATIC_ROOT)]


def static_only_fetcher():
    """A WeasyPrint URL fetcher that loads only data: URIs and the app's own static files.

    The report shows names users chose; should one ever reach the HTML as markup, it still
    cannot make the worker read a local file (file:///etc/...) or call a URL on the network
    (an internal service, a cloud metadata address). Refused URLs are logged and skipped.
    """
    from weasyprint.urls import URLFetcher  # heavy import, only where a PDF is made

    class StaticOnlyFetcher(URLFetcher):
        def __init__(self):
            super().__init__(allowed_protocols={"data", "file"}, allow_redirects=False)
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            scheme = url.split(":", 1)[0].lower()
            if scheme == "data" or (scheme == "file" and _is_static_file(url)):
                return super().fetch(url, headers)
            self.refused.append(url)
            raise ValueError(f"The report loads only data: URIs and static files, not {url}")

    return StaticOnlyFetcher()


def _is_static_file(url: str) -> bool:
    parsed = urlsplit(url)
    if parsed.netloc not in ("", "localhost"):
        return False
    path = Path(unquote(parsed.path)).resolve()  # resolve(): no way out through ".." or links
    return path.is_file() and any(path.is_relative_to(root) for root in static_roots())


def pdf_from_html(html: str, *, url_fetcher=None) -> bytes:
    from weasyprint import HTML  # heavy import, only where a PDF is made

    fetcher = url_fetcher or static_only_fetcher()
    return HTML(string=html, base_url=str(settings.BASE_DIR), url_fetcher=fetcher).write_pdf()


def render_pdf(context: dict) -> bytes:
    return pdf_from_html(render_html(context))


def report_charts(
    *, start: date, end: date, team: Team | None, hosts: list[dict], currency: str
) -> dict[str, list[dict]]:
    """The dashboards' figures for the days [start, end), drawn as SVG, grouped by report
    section."""
    specs = _chart_specs(start=start, end=end, team=team, hosts=hosts, currency=currency)
    svgs = figures_to_svg([spec["figure"] for spec in specs], width=CHART_WIDTH_PX)
    sections: dict[str, list[dict]] = {}
    for spec, svg in zip(specs, svgs, strict=True):
        sections.setdefault(spec["section"], []).append(
            {"name": spec["name"], "note": spec["note"], "svg": _svg_for_print(svg)}
        )
    return sections


def _chart_specs(
    *, start: date, end: date, team: Team | None, hosts: list[dict], currency: str
) -> list[dict]:
    """Which dashboard figures the report shows, in which section, with their source notes."""
    facts_note = "Daily sums of the hourly facts; factors as listed in Appendix B and C."
    specs = []

    def add(section, name, figure, note, height=None):
        if height:  # the dashboards' default height, lowered so three charts share a page
            figure.update_layout(height=height)
        specs.append({"section": section, "name": name, "figure": figure, "note": note})

    series = dashboards.time_series(start=start, end=end, team=team, bucket="day")
    add("trends", "energy", charts.energy_trend_figure(series), facts_note, CHART_HEIGHT_PX)
    add("trends", "carbon", charts.carbon_trend_figure(series), facts_note, CHART_HEIGHT_PX)
    add(
        "trends",
        "cost",
        charts.cost_trend_figure(series, currency=currency),
        f"Facility energy x each site's electricity price ({currency}); prices in Appendix B.",
        CHART_HEIGHT_PX,
    )
    if team is None:
        by_team = dashboards.breakdown(by="team", start=start, end=end)
        add(
            "breakdowns",
            "by_team",
            charts.carbon_split_figure(by_team, title="Carbon by team"),
            f"{facts_note} 'No team': device time no project used.",
        )
    by_phase = dashboards.breakdown(by="phase", start=start, end=end, team=team)
    add(
        "breakdowns",
        "by_phase",
        charts.breakdown_figure(by_phase, title="Carbon by lifecycle phase"),
        facts_note,
    )
    by_site = dashboards.breakdown(by="site", start=start, end=end, team=team)
    add(
        "breakdowns",
        "by_site",
        charts.breakdown_figure(by_site, title="Carbon by site"),
        facts_note,
    )
    top = dashboards.top_projects(start=start, end=end, team=team, limit=8)
    for row in top:
        row["label"] = row["project__name"]
    add(
        "breakdowns",
        "top_projects",
        charts.carbon_split_figure(top, title="Largest projects: operational and embodied carbon"),
        facts_note,
    )

    measured_hosts = [host for host in hosts if host["energy_it_kwh"] or host["gpu_hours"]]
    if measured_hosts:
        add(
            "hardware",
            "embodied_vs_operational",
            charts.embodied_vs_operational_figure(measured_hosts),
            "Embodied carbon amortised over the month's in-service hours (Appendix A).",
            SMALL_CHART_HEIGHT_PX,
        )
        devices = [device for host in measured_hosts for device in host["devices_rows"]]
        utilisation = charts.utilisation_figure(devices)
        height = SMALL_CHART_HEIGHT_PX
        if len(devices) > 8:  # many device labels: slanted, so they stay readable in print
            utilisation.update_xaxes(tickangle=-45, tickfont={"size": 10})
            utilisation.update_layout(legend={"y": -0.6}, margin={"b": 120})
            height = CHART_HEIGHT_PX + 60
        add(
            "hardware",
            "utilisation",
            utilisation,
            "Mean of the hourly GPU utilisation the agents reported.",
            height,
        )
    if any(host["age_years"] is not None for host in hosts):
        add(
            "hardware",
            "age",
            charts.age_vs_lifetime_figure(hosts),
            "Age at the end of the month, from the purchase date in the inventory.",
            SMALL_CHART_HEIGHT_PX,
        )
    if team is not None:
        return specs  # the dashboards' coverage series is the organisation's only
    coverage = dashboards.coverage(start=start, end=end, with_series=True)
    add(
        "quality",
        "coverage",
        charts.coverage_figure(coverage["series"]),
        "Per day: seconds measured / seconds of the device-hours that have any measurement. "
        "Hours with none at all count in the coverage figure and the missing days above.",
    )
    versions = [
        row
        for row in scope_version_rows(team=team, start=start, end=end)
        if row["energy_kwh_per_1m_output_tokens"] is not None and row["quality_value"] is not None
    ]
    if versions:
        add(
            "ai_systems",
            "energy-quality",
            charts.energy_quality_figure(versions),
            "Each version's IT energy per 1 M output tokens served this month against the "
            "quality its team recorded: the energy-versus-performance trade-off (the dashboard's "
            "'versions side by side' figure).",
        )
    return specs


def _svg_for_print(svg: str) -> str:
    """Drop the fixed pixel size so the SVG scales to the column width in the PDF."""
    return re.sub(r'^(<svg[^>]*?) width="[\d.]+" height="[\d.]+"', r"\1", svg, count=1)
