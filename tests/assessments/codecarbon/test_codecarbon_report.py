"""The monthly report shows CodeCarbon's energy labelled as such (docs/codecarbon.md)."""

import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command

from assessments.codecarbon.services import experiment_register
from assessments.reports.services import report_generate
from tests.assessments.footprint.rollup_factories import make_project

TESTDATA = Path(__file__).parent / "testdata"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "codecarbon"


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")
@pytest.mark.django_db
def test_monthly_report_has_a_line_reported_by_codecarbon(tmp_path):
    project = make_project(slug="bert", team_name="NLP")
    experiment_register(project=project, experiment_id="5f6a2d9e-1111-4a8b-9c0d-2e3f4a5b6c7d")
    call_command("import_codecarbon", str(TESTDATA / "emissions_1.x.csv"), project="bert")

    report = report_generate(month=date(2026, 11, 1))

    pdf = tmp_path / "report.pdf"
    with report.file.open("rb") as stored:
        pdf.write_bytes(stored.read())
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Reported by CodeCarbon (included above; 2 runs)" in text
    assert "1.50 kWh" in text
    assert "overlap with the agent's measurements (not counted)" in text
    if shutil.which("pdftoppm"):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                "60",
                "-png",
                "-f",
                "1",
                "-l",
                "1",
                str(pdf),
                str(ARTIFACTS / "report-codecarbon"),
            ],
            check=True,
        )
