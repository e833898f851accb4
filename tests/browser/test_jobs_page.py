"""The jobs page in Debian's Chromium: reached from the navigation, filtered through its form,
its CSV downloaded. Screenshots land in tests/artifacts/ (git-ignored)."""

import pytest

from assessments.models import UserProfile
from tests.assessments.dashboards import page_factories as pf
from tests.browser.conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
QUERY = "start=2026-10-01&end=2026-11-01"


@pytest.fixture
def world(transactional_db, plain_static):
    world = pf.make_world()
    pf.make_user("erin", UserProfile.Role.ENGINEER, [world.nlp])
    return world


def test_the_jobs_page_filters_and_downloads_its_csv(world, new_page):
    page = new_page(viewport={"width": 1366, "height": 900})
    log_in(page, "erin", "pw-erin")
    page.goto(f"/?{QUERY}")
    page.click("nav.main >> text=Jobs")
    page.wait_for_url("**/jobs/?start=2026-10-01**")
    assert page.locator("h1").inner_text() == "Jobs"
    table = page.locator("#table-jobs")
    job = f"job:{world.project.pk}"
    assert job in table.inner_text() and "llm-finetune" in table.inner_text()
    screenshot(page, "page-jobs")

    page.fill("form.filters input[name=user]", "nobody")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**user=nobody**")
    assert "No data in this period." in page.locator("#table-jobs").inner_text()

    page.fill("form.filters input[name=user]", "ada")
    page.select_option("form.filters select[name=project]", "llm-finetune")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**project=llm-finetune**")
    assert job in page.locator("#table-jobs").inner_text()
    with page.expect_download() as download_info:
        page.click("#table-jobs a.csv-link")
    download = download_info.value
    assert download.suggested_filename == "jobs_2026-10-01_2026-11-01.csv"
    lines = open(download.path(), encoding="utf-8").read().splitlines()
    assert lines[0].startswith("Job,Project,User,Account,Namespace,Pod,IT energy (kWh)")
    assert [line.split(",")[0] for line in lines[1:]] == [job]

    page.goto("/jobs/?start=2026-10-01&end=2026-11-01&project=no-such-project")
    assert "Query parameter 'project'" in page.locator("main").inner_text()
    screenshot(page, "page-jobs-refused-filter")
