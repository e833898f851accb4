"""Ranges in Debian's Chromium: an admin sets a site's bounds on its page, the change is listed
on the methodology page, and the overview and the team page show every figure as value
(low–high) and what would narrow the range most.

Screenshots land in tests/artifacts/ (git-ignored): ranges-overview.png, ranges-team.png.
"""

import re

import pytest

from assessments.models import UserProfile
from tests.assessments.dashboards import page_factories as pf
from tests.browser.conftest import ARTIFACTS, log_in, screenshot, wait_for_charts

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
QUERY = "start=2026-10-01&end=2026-11-01"
# A tile: "1.2 kWh" and, on the line below, "(1.1–1.3)".
RANGED = re.compile(r"\d[\d,.]* \S+\s+\(\d[\d,.]*–\d[\d,.]*\)")
CELL = re.compile(r"^\d[\d,.]* \(\d[\d,.]*–\d[\d,.]*\)$")  # a table cell: "0.52 (0.41–0.70)"


@pytest.fixture
def world(transactional_db, plain_static):
    world = pf.make_world()
    pf.make_user("ada", UserProfile.Role.ADMIN)
    return world


def test_an_admin_bounds_a_site_and_the_pages_show_the_ranges(world, new_page):
    page = new_page(viewport={"width": 1366, "height": 900})
    log_in(page, "ada", "pw-ada")

    page.goto("/methodology/")
    page.click(f"a[href='/factors/sites/{world.site.pk}/edit/']")
    page.fill("input[name=pue_min]", "1.1")
    page.fill("input[name=pue_max]", "1.9")
    page.fill("input[name=grid_uncertainty_pct]", "10")
    screenshot(page, "factor-site-edit")
    page.click("form.stacked button[type=submit]")
    page.wait_for_url(re.compile(r"/methodology/"))
    changes = page.locator("#factor-changes")
    assert "ada" in changes.inner_text() and "pue_min: blank → 1.1" in changes.inner_text()
    changes.screenshot(path=str(ARTIFACTS / "methodology-factor-changes.png"))

    page.goto(f"/?{QUERY}")
    wait_for_charts(page)
    for kpi in ("energy_it_kwh", "total_kgco2e", "operational_kgco2e", "cost"):
        text = page.locator(f"[data-kpi={kpi}] .value").inner_text()
        assert RANGED.search(text), (kpi, text)
    narrowing = page.locator("[data-narrowing]").inner_text()
    # October's in-service hours no GPU measured (all but two) carry the host's embodied share,
    # the baseline server's with its shipped bounds: that dwarfs the PUE's part of the range.
    assert narrowing.startswith("Embodied carbon of baseline server"), narrowing
    assert "of the range" in narrowing
    assert "would narrow the organisation's figure most" in narrowing
    total_cells = page.locator("#table-by-team tbody tr td:nth-child(6)").all_inner_texts()
    assert total_cells and all(CELL.match(cell) for cell in total_cells), total_cells
    screenshot(page, "ranges-overview")

    page.goto(f"/teams/nlp/?{QUERY}")
    wait_for_charts(page)
    carbon = page.locator("[data-kpi=carbon] .value").inner_text()
    assert RANGED.search(carbon), carbon
    team_narrowing = page.locator("[data-narrowing]").inner_text()
    assert "would narrow team NLP's figure most" in team_narrowing
    assert "PUE of paris-dc1" in team_narrowing, team_narrowing  # measured hours only
    screenshot(page, "ranges-team")
