"""The dashboards in Debian's Chromium: log in, every page and chart, filters, CSV, forms.

Screenshots land in tests/artifacts/ (git-ignored); look at them, a blank chart is a failure.
"""

from urllib.parse import parse_qs, urlparse

import pytest

from assessments.models import Project, UserProfile
from collectors.models import Collector
from tests.assessments.dashboards import page_factories as pf
from tests.browser.conftest import log_in, screenshot, wait_for_charts

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
QUERY = "start=2026-10-01&end=2026-11-01"


@pytest.fixture
def world(transactional_db, plain_static):
    world = pf.make_world()
    pf.make_user("erin", UserProfile.Role.ENGINEER, [world.nlp])
    return world


def _assert_charts_hold_data(page, where: str) -> int:
    charts = wait_for_charts(page)
    assert charts, f"{where}: no chart on the page"
    for chart in charts:
        assert chart["state"] == "ready" and chart["plotted"], f"{where}: {chart}"
        assert chart["points"] > 0, f"{where}: chart {chart['name']} is empty"
    return len(charts)


def test_every_page_and_chart_shows_data(world, new_page):
    page = new_page(viewport={"width": 1366, "height": 900})
    # Every page is served with the Content-Security-Policy: nothing on it may break it.
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    policies = []
    page.on(
        "response",
        lambda response: (
            policies.append(response.headers.get("content-security-policy"))
            if response.request.resource_type == "document"
            else None
        ),
    )
    log_in(page, "erin", "pw-erin")
    pages = [
        ("overview", f"/?{QUERY}", "Overview"),
        ("projects", f"/projects/?{QUERY}", "Projects"),
        ("project", f"/projects/llm-finetune/?{QUERY}", "LLM fine-tuning"),
        ("teams", f"/teams/?{QUERY}", "Teams"),
        ("team", f"/teams/nlp/?{QUERY}", "Team NLP"),
        ("hardware", f"/hardware/?{QUERY}", "Hardware"),
        ("collectors", f"/collectors/?{QUERY}", "Collectors"),
        ("tokens", "/account/tokens/", "Personal API tokens"),
    ]
    charts_seen = 0
    for name, url, heading in pages:
        page.goto(url)
        assert page.locator("h1").inner_text().startswith(heading), name
        if page.locator("[data-chart-url]").count():
            charts_seen += _assert_charts_hold_data(page, name)
        screenshot(page, f"page-{name}")
    assert charts_seen >= 4 + 4 + 4 + 3 + 4 + 4
    page.goto("/methodology/")
    assert policies and all(policy and "default-src 'self'" in policy for policy in policies)
    assert violations == []

    # The overview's numbers, with units, as the hand-computed figures say.
    page.goto(f"/?{QUERY}")
    energy = page.locator("[data-kpi=energy_it_kwh]").inner_text()
    assert "1.2 kWh" in energy and "+100.0 %" in energy

    phone = new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    log_in(phone, "erin", "pw-erin")
    phone.goto(f"/?{QUERY}")
    _assert_charts_hold_data(phone, "overview on a phone")
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 400, f"the overview scrolls sideways on a phone ({width} px)"
    screenshot(phone, "phone-overview")


def test_filters_stay_in_the_url_and_tables_download_as_csv(world, new_page):
    page = new_page()
    log_in(page, "erin", "pw-erin")
    page.goto(f"/projects/?{QUERY}")
    page.select_option("form.filters select[name=team]", "nlp")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**team=nlp**")
    assert page.locator("#table-projects").inner_text().count("LLM fine-tuning") == 1
    assert "Image classifier" not in page.locator("#table-projects").inner_text()

    page.click("nav.main >> text=Overview")
    params = parse_qs(urlparse(page.url).query)
    assert params == {"start": ["2026-10-01"], "end": ["2026-11-01"], "team": ["nlp"]}
    _assert_charts_hold_data(page, "overview filtered by team")

    page.goto(f"/?{QUERY}")
    with page.expect_download() as download_info:
        page.click("#table-top-projects a.csv-link")
    download = download_info.value
    assert download.suggested_filename == "top-projects_2026-10-01_2026-11-01.csv"
    text = open(download.path(), encoding="utf-8").read()
    assert text.splitlines()[0].startswith("Project,Team,IT energy (kWh)")
    assert "LLM fine-tuning" in text


def test_engineer_registers_a_project_and_sees_a_collector_token_once(world, new_page):
    page = new_page()
    log_in(page, "erin", "pw-erin")
    page.goto("/projects/")
    page.click("text=Register a project")
    page.fill("#id_name", "Speech recognition")
    page.fill("#id_slug", "speech")
    page.select_option("#id_team", label="NLP")
    page.select_option("#id_phase", "training")
    page.fill("#id_work_unit", "hours of audio")
    page.click("#project-form button[type=submit]")
    page.wait_for_url("**/projects/speech/")
    assert "Project Speech recognition registered." in page.locator(".messages").inner_text()
    assert Project.objects.get(slug="speech").team == world.nlp

    page.goto("/collectors/")
    page.fill("#collector-create input[name=name]", "rack-b")
    page.select_option("#collector-create select[name=team]", label="NLP")
    page.click("#collector-create button[type=submit]")
    token = page.locator("#new-token-value").inner_text().strip()
    collector = Collector.objects.get(name="rack-b")
    assert token.startswith(f"gac_{collector.token_prefix}_")
    screenshot(page, "collector-token-once")
    page.reload()
    assert page.locator("#new-token").count() == 0
    assert token not in page.content()
