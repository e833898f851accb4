"""The monthly report's AI systems section against the hand computation of scenario.py, for
November 2026: serving 1 kWh IT, 2.6 kgCO2e, 20,000 requests, 4 M output tokens; one-off 5.2
kgCO2e; 60,000 requests to date, 100,000 planned. So 0.25 kWh per 1 M output tokens, 0.13 kg
per 1,000 requests, 5.2e-5 kg amortised per request, lifecycle 0.13 + 0.052 = 0.182."""

import shutil
import subprocess
from datetime import UTC, date, datetime

import pytest

from assessments.reports.render import render_html
from assessments.reports.selectors import month_window, report_context
from assessments.reports.services import report_generate
from tests.assessments.ai_systems.scenario import build_assistant

pytestmark = pytest.mark.django_db
NOVEMBER = date(2026, 11, 1)
EXPECTED_CELLS = ["5.20", "2.60", "20,000", "0.250", "0.130", "0.000052", "0.182"]
LINEAGE = "2.0 distilled from 1.0: one-off 2.60 kgCO2e, shown, not added"


def test_the_report_section_agrees_with_the_hand_computation():
    build_assistant()
    context = report_context(
        window=month_window(NOVEMBER), team=None, generated_at=datetime(2026, 12, 1, tzinfo=UTC)
    )
    row = next(r for r in context["ai_system_rows"] if r["version"] == "2.0")
    assert [
        row["one_off_kgco2e"],
        row["serving_kgco2e"],
        row["requests"],
        row["kwh_per_1m_output_tokens"],
        row["kgco2e_per_1k_requests"],
        row["amortised_per_request"],
        row["lifecycle_kgco2e_per_1k_requests"],
    ] == EXPECTED_CELLS
    assert row["lineage"] == [LINEAGE.replace("2.60", "2.6")]
    html = render_html(context)
    assert "AI systems" in html and "2.0 distilled from 1.0" in html


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext is not installed")
def test_the_pdf_shows_the_ai_systems_section():
    build_assistant()
    pdf = report_generate(month=NOVEMBER).file.read()
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    flat = " ".join(text.split())
    assert "AI systems" in flat and "2.0 distilled from 1.0" in flat
    for cell in EXPECTED_CELLS:
        assert cell in flat, cell
