"""The monthly report's HTML (what the PDF is printed from) carries every summary figure with
its range and says what would narrow the organisation's and each team's range most; the PDF is
printed from it without error. (The PDF's text is checked in test_reporting.py where poppler is
installed.)"""

from datetime import UTC, datetime

import pytest
from django.utils.html import escape

from assessments.footprint.range_words import split_range
from assessments.reports.render import pdf_from_html, render_html
from assessments.reports.report_summary import format_quantity
from assessments.reports.selectors import month_window, report_context
from collectors.models import Host
from tests.assessments.reports.report_factories import OCTOBER, make_scenario

pytestmark = pytest.mark.django_db


def printed(figure: str) -> str:
    """A figure with its range as the report prints it: the range on a line below the value."""
    value, bounds = split_range(figure)
    assert bounds, figure
    return f'{escape(value)}<span class="range">{escape(bounds)}</span>'


@pytest.fixture
def context():
    scenario = make_scenario()
    Host.objects.filter(pk=scenario["host"].pk).update(
        min_kgco2e=3000, max_kgco2e=6500, lifetime_years_min=3, lifetime_years_max=6
    )
    return report_context(
        window=month_window(OCTOBER), team=None, generated_at=datetime(2026, 11, 2, tzinfo=UTC)
    )


def test_the_reports_summary_tables_show_each_figure_with_its_range(context):
    html = render_html(context)
    footprint = context["footprint"]
    total = format_quantity(
        footprint["total_kgco2e"], "kgCO2e", bounds=footprint["ranges"]["total_kgco2e"]
    )
    assert printed(total) in html  # the key figures and the comparison table
    for row in context["comparison_rows"]:
        assert printed(row["value"]) in html, row["label"]
    for row in context["team_rows"]:
        assert printed(row["total_kgco2e"]) in html, row["name"]


def test_the_report_says_what_would_narrow_the_range_most(context):
    html = render_html(context)
    assert context["narrowing"] and context["narrowing"][0].endswith(
        "would narrow the organisation's figure most."
    )
    assert escape(" ".join(context["narrowing"])) in html
    for row in context["team_rows"]:
        assert row["narrowing"] and f"team {row['name']}&#x27;s figure most" in html


def test_the_pdf_is_printed_with_the_ranges(context):
    pdf = pdf_from_html(render_html(context))
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
