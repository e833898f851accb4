"""The monthly PDF report: its figures, charts, empty months, storage, e-mail, task and command.

The PDF of the known October (report_factories) is generated once per module and read back
with pdftotext and pdftoppm, as a reader would see it. Rendered pages are kept under
tests/artifacts/report/ to be looked at.
"""

import io
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings
from PIL import Image

from assessments.footprint.range_words import split_range
from assessments.footprint.selectors import footprint
from assessments.models import Report, Team
from assessments.reports import report_summary as summary
from assessments.reports.selectors import data_quality, month_window
from assessments.reports.services import (
    ReportError,
    monthly_reports_generate,
    report_generate,
    reports_email,
)
from assessments.tasks import generate_monthly_reports
from tests.assessments.reports.report_factories import (
    OCTOBER,
    SEPTEMBER,
    make_organisation,
    make_scenario,
    month_bounds,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "report"
EMPTY_MONTH = date(2026, 6, 1)
# The charts' colours (assessments.dashboards.charts.COLOURS): IT energy bars and operational
# carbon.
ENERGY_GREEN = (0x2B, 0x8A, 0x3E)
OPERATIONAL_ORANGE = (0xE8, 0x59, 0x0C)

pytestmark = [
    pytest.mark.skipif(
        shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed"
    ),
    # Also makes pytest-django create the test database for the module-scoped report below.
    pytest.mark.django_db,
]


def pdf_text(pdf: bytes, first_page: int | None = None, *, layout: bool = False) -> str:
    """The PDF's text in reading order; with layout, a table row stays on one line."""
    args = ["pdftotext", "-layout"] if layout else ["pdftotext"]
    if first_page:
        args += ["-f", str(first_page), "-l", str(first_page)]
    result = subprocess.run([*args, "-", "-"], input=pdf, capture_output=True, check=True)
    return result.stdout.decode()


def flat(text: str) -> str:
    """Whitespace collapsed, so a figure wrapped over two lines still matches."""
    return " ".join(text.split())


def page_count(pdf: bytes) -> int:
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True)
    line = next(line for line in info.stdout.decode().splitlines() if line.startswith("Pages:"))
    return int(line.split()[1])


def render_pages(pdf: bytes, name: str, dpi: int = 60) -> list[Path]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob(f"{name}-*.png"):
        old.unlink()
    source = ARTIFACTS / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", str(source), str(ARTIFACTS / name)], check=True
    )
    return sorted(ARTIFACTS.glob(f"{name}-*.png"))


def pixels_near(image_path: Path, colour: tuple[int, int, int], tolerance: int = 40) -> int:
    """How many pixels of the page are within `tolerance` of `colour` in every channel."""
    image = Image.open(image_path).convert("RGB")
    return sum(
        count
        for count, pixel in image.getcolors(maxcolors=image.width * image.height)
        if all(
            abs(channel - target) <= tolerance
            for channel, target in zip(pixel, colour, strict=True)
        )
    )


def page_with(pdf: bytes, heading: str) -> int:
    for number in range(1, page_count(pdf) + 1):
        if heading in flat(pdf_text(pdf, number)):
            return number
    raise AssertionError(f"no page shows {heading!r}")


@pytest.fixture(scope="module")
def october(django_db_setup, django_db_blocker, tmp_path_factory):
    """The October report of the known scenario, generated twice, and the API's figures."""
    media = tmp_path_factory.mktemp("media")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=str(media)):
        with transaction.atomic():
            cache.clear()
            scenario = make_scenario()
            start, end = month_bounds(OCTOBER)
            vision = scenario["teams"][1]
            totals = footprint(start=start, end=end)
            previous = footprint(start=month_bounds(SEPTEMBER)[0], end=start)
            vision_totals = footprint(start=start, end=end, team=vision)
            first = report_generate(month=OCTOBER)
            first_pdf = first.file.read()
            first.file.close()
            second = report_generate(month=OCTOBER)
            second_pdf = second.file.read()
            second.file.close()
            team_report = report_generate(month=OCTOBER, team=vision)
            team_pdf = team_report.file.read()
            team_report.file.close()
            result = {
                "totals": totals,
                "previous": previous,
                "vision_totals": vision_totals,
                "first": first,
                "second": second,
                "pdf": first_pdf,
                "second_pdf": second_pdf,
                "team_pdf": team_pdf,
                "stored_reports": Report.objects.filter(month=OCTOBER, team=None).count(),
                "stored_files": sorted(p.name for p in (media / "reports").iterdir()),
            }
            transaction.set_rollback(True)
    result["text"] = flat(pdf_text(result["pdf"]))
    result["rows"] = flat(pdf_text(result["pdf"], layout=True))
    result["team_text"] = flat(pdf_text(result["team_pdf"]))
    return result


# --- The known month ----------------------------------------------------------------------------


def test_report_totals_equal_the_footprint_api_figures(october):
    totals, text = october["totals"], october["text"]
    assert totals["energy_kwh"] > 0
    for key, unit in [
        ("energy_kwh", "kWh"),
        ("facility_energy_kwh", "kWh"),
        ("operational_kgco2e", "kgCO2e"),
        ("embodied_kgco2e", "kgCO2e"),
        ("total_kgco2e", "kgCO2e"),
    ]:
        assert summary.format_quantity(totals[key], unit) in text, key
    assert summary.format_money(totals["cost"], "EUR") in text


def test_the_summary_tables_carry_the_ranges_and_what_narrows_them(october):
    totals, text = october["totals"], october["text"]
    layout = pdf_text(october["pdf"], layout=True)
    printed = [
        summary.format_quantity(totals[key], unit, bounds=totals["ranges"][key])
        for key, unit in [("energy_kwh", "kWh"), ("total_kgco2e", "kgCO2e")]
    ]
    printed.append(summary.format_money(totals["cost"], "EUR", totals["ranges"]["cost"]))
    for figure in printed:
        # The value, and its range on the line below it.
        value, bounds = split_range(figure)
        assert bounds and value in layout and bounds in layout, figure
    assert "What would narrow the range most." in text
    assert "of the range;" in text


def test_report_stores_the_totals_it_printed(october):
    stored = october["first"].totals
    for key in ("energy_kwh", "operational_kgco2e", "embodied_kgco2e", "cost"):
        assert stored[key] == pytest.approx(october["totals"][key])
    assert stored["has_data"] is True


def test_summary_compares_with_last_month_in_words(october):
    totals, previous = october["totals"], october["previous"]
    phrase = summary.change_phrase(
        totals["energy_kwh"],
        previous["energy_kwh"],
        summary.format_quantity(previous["energy_kwh"], "kWh"),
    )
    assert phrase.startswith("up ")  # 31 days of October against 15 of September
    assert f"of IT energy ({phrase} last month)," in october["text"]
    assert (
        "There are no measurements for the same month last year to compare with."
        in (october["text"])
    )


def test_report_has_every_section_a_board_expects(october):
    text = october["text"]
    for heading in [
        "Executive summary",
        "Energy, carbon and cost over the month",
        "Where the carbon comes from",
        "Teams and projects",
        "Optimisations and their return",
        "Top recommendations",
        "Hardware lifecycle",
        "Data quality",
        "Appendix A. Methodology",
        "Appendix B. Factors and sources",
        "Appendix C. Factor values used this month",
    ]:
        assert heading in text, heading


def test_every_page_but_the_cover_names_organisation_page_and_stamp(october):
    pdf = october["pdf"]
    pages = page_count(pdf)
    assert pages >= 5
    for number in range(2, pages + 1):
        text = flat(pdf_text(pdf, number))
        assert "Example Corp" in text
        assert f"Page {number} of {pages}" in text
        assert "Generated " in text and " UTC by GreenAI" in text


def test_team_and_project_tables_list_each_with_its_numbers(october):
    text = october["text"]
    vision = october["vision_totals"]
    assert "LLM fine-tuning" in text and "Vision inference" in text
    assert "Unallocated" in text
    assert summary.format_number(vision["energy_kwh"]) in text
    # SCI of the inference project: its carbon over a million inferences, in grams.
    assert "gCO2e per inference" in text


def test_factor_sources_and_the_factor_version_are_stated(october):
    text = october["text"]
    assert "Ember 2024 via CodeCarbon (annual, FRA)" in text
    assert "Operator's 2025 measurement" in text
    digest = october["first"].factor_versions["digest"]
    assert len(digest) == 12
    assert f"Factor version {digest}" in text


def test_data_quality_counts_rejected_batches_and_unallocated_energy(october):
    rows = october["rows"]
    assert "Ingest batches rejected 3" in rows
    assert "invalid_batch 400 3" in rows
    assert "Days without any measurement 0 of 31" in rows
    unallocated = summary.format_quantity(october["totals"]["unallocated_energy_kwh"], "kWh")
    assert f"Unallocated IT energy (device time no project used) {unallocated}" in rows


def test_partial_coverage_is_stated_as_lower_bounds(october):
    # Facts cover 8 of every 24 hours in the scenario.
    coverage = october["totals"]["coverage"]
    assert coverage == pytest.approx(1 / 3, rel=0.01)
    text = october["text"]
    assert f"Partial data. Measurements cover only {summary.format_percent(coverage)}" in text
    assert "lower bounds" in text


def test_regenerating_a_month_gives_the_same_numbers_and_replaces_the_file(october):
    first, second = october["first"], october["second"]
    assert second.pk == first.pk
    assert second.totals == first.totals
    assert second.factor_versions == first.factor_versions
    assert october["stored_reports"] == 1
    # One file per month and scope: the regenerated one replaced the first.
    organisation_files = [
        name for name in october["stored_files"] if name.startswith("greenai-report-2026-10-org")
    ]
    assert len(organisation_files) == 1
    stamp = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")
    first_text = stamp.sub("<stamp>", october["text"])
    second_text = stamp.sub("<stamp>", flat(pdf_text(october["second_pdf"])))
    assert first_text == second_text


def test_charts_are_drawn_as_vector_graphics_with_data(october):
    pdf = october["pdf"]
    trends_page = page_with(pdf, "Energy, carbon and cost over the month")
    pages = render_pages(pdf, "october")
    image = pages[trends_page - 1]
    assert pixels_near(image, ENERGY_GREEN) > 2000, "no energy bars on the trends page"
    assert pixels_near(image, OPERATIONAL_ORANGE) > 2000, "no carbon bars on the trends page"
    # Vector, not pictures: the charts' axis titles are text in the PDF and no image is embedded.
    assert "kgCO2e" in flat(pdf_text(pdf, trends_page))
    images = subprocess.run(
        ["pdfimages", "-list", "-"], input=pdf, capture_output=True, check=False
    )
    if images.returncode == 0:
        assert len(images.stdout.decode().strip().splitlines()) <= 2  # header lines only


def test_team_report_covers_only_that_team(october):
    text, vision = october["team_text"], october["vision_totals"]
    assert "team Vision" in text
    assert summary.format_quantity(vision["energy_kwh"], "kWh") in text
    assert "Vision inference" in text
    assert "LLM fine-tuning" not in text
    render_pages(october["team_pdf"], "october-team-vision")


# --- Empty and partial months --------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_cache():
    """The dashboards cache factor sources for a while; each test starts from its own data."""
    cache.clear()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def test_month_without_data_says_so_instead_of_showing_zeros(db, media):
    make_organisation()
    report = report_generate(month=EMPTY_MONTH)
    pdf = report.file.read()
    text = flat(pdf_text(pdf))
    assert report.status == Report.Status.READY
    assert report.totals["has_data"] is False
    assert "No data for this month." in text
    assert "No measurements were recorded for Example Corp in June 2026" in text
    assert "0 kWh" not in text and "0.00 EUR" not in text
    assert "Days without any measurement 30 of 30" in flat(pdf_text(pdf, layout=True))
    assert "Energy, carbon and cost over the month" not in text  # no empty charts
    assert "Teams and projects" not in text
    assert "No sites are registered." in text  # the appendix lists this database's factors
    pages = render_pages(pdf, "empty-month")
    assert all(pixels_near(page, OPERATIONAL_ORANGE) == 0 for page in pages)


def test_days_without_measurements_are_listed_as_ranges(db):
    make_scenario(september_days=0, october_days=5)
    start, end = month_bounds(OCTOBER)
    quality = data_quality(
        window=month_window(OCTOBER), team=None, current=footprint(start=start, end=end)
    )
    assert quality["missing_day_count"] == 26
    assert quality["days_in_month"] == 31
    assert quality["missing_days"] == "6-31 Oct"
    assert quality["rejected_total"] == 3


# --- Failures ---------------------------------------------------------------------------------


def test_missing_chromium_fails_with_a_clear_error_and_is_recorded(db, media, settings):
    make_scenario(september_days=0, october_days=2)
    settings.CHROMIUM_PATH = "/nonexistent/chromium"
    with pytest.raises(ReportError, match="No Chromium at CHROMIUM_PATH='/nonexistent/chromium'"):
        report_generate(month=OCTOBER)
    report = Report.objects.get(month=OCTOBER, team=None)
    assert report.status == Report.Status.FAILED
    assert "CHROMIUM_PATH" in report.error
    assert not report.file


def test_a_browser_that_fails_to_start_gives_a_clear_error(db, media, settings):
    make_scenario(september_days=0, october_days=2)
    settings.CHROMIUM_PATH = shutil.which("false")  # executable, but exits at once
    with pytest.raises(ReportError, match="could not render the report's charts"):
        report_generate(month=OCTOBER)
    assert Report.objects.get(month=OCTOBER, team=None).status == Report.Status.FAILED


def test_failed_regeneration_keeps_the_earlier_good_report(db, media, settings):
    make_scenario(september_days=0, october_days=2)
    good = Report.objects.create(month=OCTOBER, totals={"energy_kwh": 1.0})
    good.file.save("greenai-report-2026-10-organisation.pdf", ContentFile(b"%PDF-old"))
    settings.CHROMIUM_PATH = "/nonexistent/chromium"
    with pytest.raises(ReportError):
        report_generate(month=OCTOBER)
    good.refresh_from_db()
    assert good.status == Report.Status.READY
    assert good.file.read() == b"%PDF-old"


# --- E-mail -----------------------------------------------------------------------------------


@override_settings(
    EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    REPORT_RECIPIENTS=["board@example.com", "cso@example.com"],
)
def test_report_is_emailed_with_the_pdf_to_every_recipient_once(db, media):
    make_organisation(recipients="cso@example.com\n\nfinance@example.com\n")
    report = report_generate(month=EMPTY_MONTH)
    sent_to = reports_email(reports=[report])
    assert sent_to == ["cso@example.com", "finance@example.com", "board@example.com"]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == sent_to
    assert "Example Corp" in message.subject and "June 2026" in message.subject
    [(filename, content, mimetype)] = message.attachments
    assert filename == "greenai-report-2026-06-organisation.pdf"
    assert mimetype == "application/pdf"
    assert content.startswith(b"%PDF")
    report.refresh_from_db()
    assert report.emailed_to.splitlines() == sent_to


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_no_recipients_means_no_email(db, media):
    make_organisation(recipients="")
    report = report_generate(month=EMPTY_MONTH)
    assert reports_email(reports=[report], recipients=None) == []
    assert mail.outbox == []


# --- Beat schedule and task ---------------------------------------------------------------------


def test_beat_schedule_runs_the_report_task_on_the_first_of_each_month():
    entries = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "assessments.tasks.generate_monthly_reports"
    ]
    assert len(entries) == 1
    schedule = entries[0]["schedule"]
    assert isinstance(schedule, crontab)
    assert schedule.day_of_month == {settings.REPORT_DAY_OF_MONTH}
    assert settings.REPORT_DAY_OF_MONTH == 1
    assert generate_monthly_reports.name == "assessments.tasks.generate_monthly_reports"
    # A worker started from greenai_site.celery finds the task under the scheduled name.
    from greenai_site.celery import app

    app.loader.import_default_modules()
    assert "assessments.tasks.generate_monthly_reports" in app.tasks


@override_settings(
    EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    REPORT_RECIPIENTS=["board@example.com"],
)
def test_task_generates_last_months_reports_for_organisation_and_each_team(db, media):
    # A month without facts keeps this fast (no charts); the known month is tested above.
    make_scenario(september_days=0, october_days=0)
    generate_monthly_reports(today="2026-11-01")
    reports = Report.objects.filter(month=OCTOBER)
    scopes = sorted(r.team.name if r.team else "(organisation)" for r in reports)
    assert scopes == ["(organisation)", "NLP", "Vision"]
    assert all(r.status == Report.Status.READY and r.file for r in reports)
    assert len(mail.outbox) == 1
    assert len(mail.outbox[0].attachments) == 3


def test_task_reports_failures_after_trying_every_team(db, media, settings):
    make_scenario(september_days=0, october_days=1)
    settings.CHROMIUM_PATH = "/nonexistent/chromium"
    with pytest.raises(ReportError):
        monthly_reports_generate(today=date(2026, 11, 15), email=False)
    assert Report.objects.filter(month=OCTOBER, status=Report.Status.FAILED).count() == 3


# --- Command ----------------------------------------------------------------------------------


def test_command_writes_the_pdf_to_output_and_prints_its_path(db, media, tmp_path):
    make_organisation()
    target = tmp_path / "june.pdf"
    out = io.StringIO()
    call_command("monthly_report", "2026-06", "--output", str(target), stdout=out)
    assert out.getvalue().strip() == str(target.resolve())
    assert target.read_bytes().startswith(b"%PDF")
    assert Report.objects.filter(month=EMPTY_MONTH, team=None).exists()


def test_command_without_output_prints_the_stored_file(db, media):
    make_organisation()
    Team.objects.create(name="NLP", slug="nlp")
    out = io.StringIO()
    call_command("monthly_report", "2026-06", "--team", "nlp", stdout=out)
    path = Path(out.getvalue().strip())
    assert path.name == "greenai-report-2026-06-nlp.pdf"
    assert path.read_bytes().startswith(b"%PDF")


@override_settings(
    EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    REPORT_RECIPIENTS=["board@example.com"],
)
def test_command_emails_the_report_when_asked(db, media):
    make_organisation()
    err = io.StringIO()
    call_command("monthly_report", "2026-06", "--email", stdout=io.StringIO(), stderr=err)
    assert "E-mailed to board@example.com" in err.getvalue()
    assert len(mail.outbox) == 1


@override_settings(
    EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
    EMAIL_HOST="127.0.0.1",
    EMAIL_PORT=9,  # discard port: nothing listens, the connection is refused at once
    EMAIL_TIMEOUT=5,
    REPORT_RECIPIENTS=["board@example.com"],
)
def test_command_says_when_emailing_fails_and_keeps_the_report(db, media):
    make_organisation()
    with pytest.raises(CommandError, match="is stored .* but e-mailing it failed"):
        call_command("monthly_report", "2026-06", "--email", stdout=io.StringIO())
    assert Report.objects.get(month=EMPTY_MONTH, team=None).status == Report.Status.READY


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2026-13"], "13 is not a month number"),
        (["last-month"], "not in the form YYYY-MM"),
        (["2026-06", "--team", "nobody"], "No team with slug 'nobody'"),
        (["2026-06", "--output", "/nonexistent/dir/r.pdf"], "does not exist"),
    ],
)
def test_command_refuses_bad_arguments_clearly(db, media, args, message):
    make_organisation()
    with pytest.raises(CommandError, match=message):
        call_command("monthly_report", *args)
    assert not Report.objects.exists()


def test_month_window_is_the_whole_utc_month():
    window = month_window(date(2026, 2, 1))
    assert window.start.isoformat() == "2026-02-01T00:00:00+00:00"
    assert window.end.isoformat() == "2026-03-01T00:00:00+00:00"
    assert window.hours == 28 * 24


def test_no_single_sci_is_claimed_for_projects_counting_different_work(october):
    # llm-finetune recorded no units; adding its carbon to inferences would mislead.
    assert "An overall Software Carbon Intensity (SCI) is not stated" in october["text"]


def test_team_with_one_unit_of_work_gets_its_sci_in_the_summary(october):
    vision = october["vision_totals"]
    sci = summary.format_quantity(vision["sci"] * 1000, "gCO2e per unit of work")
    text = october["team_text"]
    assert f"The Software Carbon Intensity (SCI) was {sci}" in text
    assert "over 1,000,000 units of work." in text
    rows = flat(pdf_text(october["team_pdf"], layout=True))
    assert f"Software Carbon Intensity {sci}" in rows  # its row in the comparison table


def test_optimisations_and_recommendations_are_listed_with_savings(october):
    text, rows = october["text"], october["rows"]
    assert "INT8 quantisation of the detector" in text
    assert "800.00 EUR" in text  # 10 engineering hours at 80 EUR
    assert "What-if estimate" in text  # planned: not measured yet, with its source
    assert "Release idle GPU 1 of" in text  # the title wraps in its column
    assert "42.5 3.25 9.95" in rows  # kWh, kgCO2e and EUR per month
