"""Budgets and alerts in Chromium: the project page draws the budget's burn-down chart, the
budgets and alerts pages render (screenshots in tests/artifacts/)."""

from datetime import UTC, datetime, timedelta

import pytest

from assessments.footprint.daily_facts import daily_facts_refresh
from assessments.models import AlertEpisode, AlertRule, Budget, UserProfile
from assessments.watch import selectors
from tests.assessments.dashboards.page_factories import add_hour, make_user, make_world
from tests.browser.conftest import log_in, screenshot, wait_for_charts

pytestmark = pytest.mark.django_db(transaction=True)
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def watched(monkeypatch):
    monkeypatch.setattr(selectors, "now", lambda: NOW)
    world = make_world()
    for offset in range(1, 20):
        hour = NOW.replace(hour=10) - timedelta(days=offset)
        add_hour(
            world.gpu0,
            hour,
            energy_it_kwh=0.2 + 0.05 * (offset % 4),
            project=world.project,
            util=70,
        )
    daily_facts_refresh(start=datetime(2026, 10, 1, tzinfo=UTC), end=NOW)
    budget = Budget.objects.create(project=world.project, metric="kwh_it", period="month", limit=6)
    rule = AlertRule.objects.create(kind="budget_forecast", threshold=100, project=world.project)
    AlertEpisode.objects.create(
        rule=rule,
        started_at=NOW,
        value=112.5,
        threshold=100,
        summary="project:llm-finetune is forecast to use 6.8 of its 6.0 kwh_it budget.",
    )
    make_user("ada", UserProfile.Role.ADMIN)
    return world, budget


def test_the_project_page_draws_the_budget_burn_down(new_page, watched):
    world, budget = watched
    page = new_page()
    page.set_default_timeout(120_000)  # a loaded machine renders slowly
    log_in(page, "ada", "pw-ada")
    page.goto(f"/projects/{world.project.slug}/")
    charts = {c["name"]: c for c in wait_for_charts(page)}
    burn_down = charts["budget-burndown"]
    assert burn_down["state"] == "ready" and burn_down["plotted"]
    assert burn_down["points"] > 20  # 19 days and the lines
    assert page.locator(f'tr[data-budget="{budget.pk}"] [data-field="status"]').inner_text()
    page.locator("#budgets").scroll_into_view_if_needed()
    screenshot(page, "watch-project-budget")
    page.goto("/budgets/")
    assert page.locator(f'tr[data-budget="{budget.pk}"]').count() == 1
    screenshot(page, "watch-budgets")
    page.goto("/alerts/")
    assert (
        "forecast to use 6.8" in page.inner_text("main") or "forecast to use 6.8" in page.content()
    )
    screenshot(page, "watch-alerts")
