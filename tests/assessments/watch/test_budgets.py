"""Budgets: one hand-computed case on the page, in the API and in the monthly PDF; who may set
them; bad input; the inventory keys."""

import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from django.test import Client

from assessments.footprint.daily_facts import daily_facts_refresh
from assessments.models import Budget, UserProfile
from assessments.organisation.inventory import InventoryError, inventory_dump, inventory_load
from assessments.reports.render import render_pdf
from assessments.reports.selectors import month_window, report_context
from assessments.watch import selectors
from tests.assessments.dashboards.page_factories import add_hour, make_user, make_world

pytestmark = pytest.mark.django_db
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

# Seen at the start of 1 November 2026: the fourth quarter has 61 days left.
NOW = datetime(2026, 11, 1, tzinfo=UTC)
# The project's IT energy on 25-31 October (one hour a day): mean 0.4, smallest 0.2, largest 0.6.
LAST_WEEK_KWH = [0.2, 0.4, 0.6, 0.2, 0.4, 0.6, 0.4]
# make_world's project used 2 × 0.5 kWh on 5 October; with the week: 3.8 kWh in the quarter.
USED = 1.0 + sum(LAST_WEEK_KWH)
FORECAST = 3.8 + 0.4 * 61  # 28.2
LOW = 3.8 + 0.2 * 61  # 16.0
HIGH = 3.8 + 0.6 * 61  # 40.4


@pytest.fixture
def world(monkeypatch):
    monkeypatch.setattr(selectors, "now", lambda: NOW)
    world = make_world()
    for offset, kwh in enumerate(LAST_WEEK_KWH):
        hour = datetime(2026, 10, 25 + offset, 10, tzinfo=UTC)
        add_hour(world.gpu0, hour, energy_it_kwh=kwh, project=world.project, util=80)
    daily_facts_refresh(start=datetime(2026, 10, 1, tzinfo=UTC), end=NOW)
    return world


@pytest.fixture
def budget(world):
    return Budget.objects.create(project=world.project, metric="kwh_it", period="quarter", limit=20)


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_hand_computed_case_is_forecast_as_computed(budget):
    view = selectors.budget_view(budget)
    assert (view.period_start, view.period_end) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert view.standing.days_left == 61
    assert view.standing.used == pytest.approx(USED)
    assert view.standing.forecast.value == pytest.approx(FORECAST)
    assert view.standing.forecast.low == pytest.approx(LOW)
    assert view.standing.forecast.high == pytest.approx(HIGH)
    assert view.standing.status == "at_risk"


def test_the_budget_page_shows_used_forecast_range_and_status(world, budget):
    viewer = make_user("vera", UserProfile.Role.VIEWER)
    html = login(viewer).get("/budgets/").content.decode()
    row = html[html.index(f'data-budget="{budget.pk}"') :]
    row = row[: row.index("</tr>")]
    assert 'data-status="at_risk"' in row
    assert "20.0 kWh" in row  # the limit
    assert "3.8 kWh" in row
    assert "28.2 kWh" in row
    assert "(16.0 kWh – 40.4 kWh)" in row
    assert "At risk" in row
    assert "Change" not in row  # a viewer may not


def test_the_project_page_shows_the_budget_and_its_burn_down_chart(world, budget):
    viewer = make_user("vera", UserProfile.Role.VIEWER)
    client = login(viewer)
    html = client.get(f"/projects/{world.project.slug}/").content.decode()
    assert "28.2 kWh" in html
    assert f'data-chart-url="/budgets/{budget.pk}/burndown.json"' in html
    figure = client.get(f"/budgets/{budget.pk}/burndown.json").json()
    names = [trace.get("name") for trace in figure["data"]]
    assert names == [
        "Even spending",
        "Forecast range",
        "Forecast range (low to high)",
        "Forecast",
        "Left of the budget",
    ]
    left = figure["data"][-1]["y"]
    # 31 October days, from the limit down to what is left at the end of October.
    assert len(left) == 32
    assert left[0] == 20 and left[-1] == pytest.approx(20 - USED)
    assert figure["data"][3]["y"] == pytest.approx([20 - USED, 20 - FORECAST])


def test_the_team_page_shows_the_teams_budgets(world):
    Budget.objects.create(team=world.nlp, metric="kgco2e", period="month", limit=5)
    Budget.objects.create(team=world.vision, metric="cost", period="year", limit=100)
    viewer = make_user("vera", UserProfile.Role.VIEWER)
    html = login(viewer).get(f"/teams/{world.nlp.slug}/").content.decode()
    assert "team:nlp" in html and "team:vision" not in html
    assert "burndown.json" in html


def test_the_api_lists_budgets_with_forecast_and_status(world, budget):
    viewer = make_user("vera", UserProfile.Role.VIEWER)
    body = login(viewer).get("/api/v1/budgets").json()
    assert body["count"] == 1
    (row,) = body["budgets"]
    assert row["scope"] == "project:llm-finetune"
    assert (row["metric"], row["period"], row["limit"], row["unit"]) == (
        "kwh_it",
        "quarter",
        20,
        "kWh",
    )
    assert row["used"] == pytest.approx(USED)
    assert row["forecast"] == pytest.approx({"value": FORECAST, "low": LOW, "high": HIGH})
    assert row["status"] == "at_risk"
    assert row["period_start"].startswith("2026-10-01")
    assert row["days_left"] == 61


def test_the_api_filters_by_scope_and_status_and_names_bad_values(world, budget):
    Budget.objects.create(metric="cost", period="month", limit=1000)
    client = login(make_user("vera", UserProfile.Role.VIEWER))
    assert client.get("/api/v1/budgets?scope=organisation").json()["count"] == 1
    only = client.get("/api/v1/budgets?scope=project:llm-finetune").json()
    assert [b["metric"] for b in only["budgets"]] == ["kwh_it"]
    assert client.get("/api/v1/budgets?status=on_track").json()["count"] == 1
    bad = client.get("/api/v1/budgets?scope=galaxy")
    assert bad.status_code == 400 and "scope" in bad.json()["error"]
    for value in ("", " organisation", "team:nlp\n"):
        assert client.get("/api/v1/budgets", {"scope": value}).status_code == 400, value
    missing = client.get("/api/v1/budgets?scope=team:nobody")
    assert missing.status_code == 404 and "nobody" in missing.json()["error"]
    wrong = client.get("/api/v1/budgets?status=fine")
    assert wrong.status_code == 400 and "status" in wrong.json()["error"]
    # An empty value is not in the schema's enum either.
    empty = client.get("/api/v1/budgets?status=")
    assert empty.status_code == 400 and "status" in empty.json()["error"]
    schema = client.get("/api/v1/openapi.json").json()
    (scope,) = [
        p for p in schema["paths"]["/api/v1/budgets"]["get"]["parameters"] if p["name"] == "scope"
    ]
    # The schema states the scope rule the server applies.
    rule = re.compile(scope["schema"]["pattern"])
    assert rule.match("team:nlp") and rule.match("organisation") and not rule.match("galaxy")
    assert Client().get("/api/v1/budgets").status_code == 401
    assert client.post("/api/v1/budgets").status_code == 405


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext is not installed")
def test_the_monthly_pdf_shows_budget_against_actual(world, budget):
    window = month_window(date(2026, 10, 1))
    context = report_context(window=window, team=None, generated_at=NOW)
    pdf = render_pdf(context)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "budgets-report.pdf").write_bytes(pdf)  # for a reader's eye
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    flat = " ".join(text.split())
    assert "Budgets against actual" in flat
    line = next(line for line in text.splitlines() if "project:llm-finetune" in line)
    line = " ".join(line.split())
    assert "20.0 kWh 3.8 kWh 28.2 kWh 16.0 to 40.4 At risk" in line
    # A team's report shows its own and its projects' budgets only.
    Budget.objects.create(team=world.vision, metric="cost", period="month", limit=10)
    team_context = report_context(window=window, team=world.nlp, generated_at=NOW)
    assert [row["scope"] for row in team_context["budget_rows"]] == ["project:llm-finetune"]


def test_a_finished_period_is_seen_at_its_end(world):
    october = Budget.objects.create(project=world.project, metric="kwh_it", period="month", limit=3)
    view = selectors.budget_view(october, within=datetime(2026, 10, 1, tzinfo=UTC))
    assert view.standing.days_left == 0
    assert view.standing.used == pytest.approx(USED)
    assert view.standing.forecast.value == view.standing.forecast.high == pytest.approx(USED)
    assert view.standing.status == "over"


# --- Who may set budgets -----------------------------------------------------------------------


def test_admins_set_organisation_and_team_budgets(world):
    admin = make_user("ada", UserProfile.Role.ADMIN)
    client = login(admin)
    response = client.post(
        "/budgets/new/",
        {"scope": "team:nlp", "metric": "kgco2e", "period": "month", "limit": "500"},
    )
    assert response.status_code == 302
    assert Budget.objects.get(team=world.nlp).limit == 500
    client.post(
        "/budgets/new/",
        {"scope": "organisation", "metric": "cost", "period": "year", "limit": "9000"},
    )
    assert Budget.objects.filter(team=None, project=None, metric="cost").exists()


def test_engineers_set_only_their_own_teams_project_budgets(world):
    engineer = make_user("eng", UserProfile.Role.ENGINEER, teams=[world.nlp])
    client = login(engineer)
    own = {"scope": "project:llm-finetune", "metric": "kwh", "period": "month", "limit": "50"}
    assert client.post("/budgets/new/", own).status_code == 302
    for scope in ("team:nlp", "organisation", "project:image-cls"):
        response = client.post("/budgets/new/", {**own, "scope": scope})
        assert response.status_code == 400, scope
    assert Budget.objects.count() == 1
    team_budget = Budget.objects.create(team=world.nlp, metric="cost", period="month", limit=5)
    assert client.post(f"/budgets/{team_budget.pk}/remove/").status_code == 403
    assert client.get(f"/budgets/{team_budget.pk}/edit/").status_code == 403
    assert Budget.objects.filter(pk=team_budget.pk).exists()


def test_viewers_see_budgets_but_may_not_set_them(world, budget):
    client = login(make_user("vera", UserProfile.Role.VIEWER))
    assert client.get("/budgets/").status_code == 200
    assert client.get("/budgets/new/").status_code == 403
    assert client.post(f"/budgets/{budget.pk}/remove/").status_code == 403
    assert Client().get("/budgets/").status_code == 302  # to the login page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("limit", "0", "above 0"),
        ("limit", "-5", "greater than or equal"),
        ("limit", "nan", "number"),
        ("limit", "1e400", "number"),
        ("metric", "litres", "valid choice"),
        ("period", "week", "valid choice"),
        ("scope", "team:nobody", "valid choice"),
    ],
)
def test_bad_budget_input_is_refused_naming_the_field(world, field, value, message):
    client = login(make_user("ada", UserProfile.Role.ADMIN))
    data = {"scope": "team:nlp", "metric": "kgco2e", "period": "month", "limit": "500"}
    response = client.post("/budgets/new/", {**data, field: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Budget.objects.exists()


def test_a_second_budget_of_the_same_scope_metric_and_period_is_refused(world, budget):
    client = login(make_user("ada", UserProfile.Role.ADMIN))
    data = {"scope": "project:llm-finetune", "metric": "kwh_it", "period": "quarter", "limit": "9"}
    response = client.post("/budgets/new/", data)
    assert response.status_code == 400
    assert "already has a kwh_it budget per quarter" in response.content.decode()
    assert Budget.objects.get().limit == 20


def test_an_admin_changes_and_removes_a_budget(world, budget):
    client = login(make_user("ada", UserProfile.Role.ADMIN))
    data = {"scope": "project:llm-finetune", "metric": "kwh_it", "period": "month", "limit": "7"}
    assert client.post(f"/budgets/{budget.pk}/edit/", data).status_code == 302
    budget.refresh_from_db()
    assert (budget.period, budget.limit) == ("month", 7)
    assert client.post(f"/budgets/{budget.pk}/remove/").status_code == 302
    assert not Budget.objects.exists()


# --- Inventory ---------------------------------------------------------------------------------

INVENTORY = """
teams:
  - {name: NLP, slug: nlp}
projects:
  - {slug: llm-finetune, name: LLM fine-tuning, team: NLP}
budgets:
  - {scope: "team:nlp", metric: kgco2e, period: month, limit: 500}
  - {scope: organisation, metric: cost, period: year, limit: 12000.5}
  - {scope: "project:llm-finetune", metric: kwh_it, period: quarter, limit: 40}
"""


def test_inventory_budgets_load_dump_and_load_again_unchanged(db):
    result = inventory_load(text=INVENTORY)
    assert result.counts["budgets"]["created"] == 3
    assert Budget.objects.get(team__slug="nlp").limit == 500
    dumped = inventory_dump()
    assert '- {scope: "team:nlp", metric: kgco2e, period: month, limit: 500}' in dumped.replace(
        "'", '"'
    )
    again = inventory_load(text=dumped)
    assert again.counts["budgets"]["unchanged"] == 3
    changed = inventory_load(text=INVENTORY.replace("limit: 500", "limit: 450"))
    assert changed.counts["budgets"]["updated"] == 1
    assert Budget.objects.get(team__slug="nlp").limit == 450


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('{scope: "galaxy", metric: kgco2e, period: month, limit: 5}', "budgets[0].scope"),
        ('{scope: "team:nlp", metric: litres, period: month, limit: 5}', "budgets[0].metric"),
        ('{scope: "team:nlp", metric: kgco2e, period: week, limit: 5}', "budgets[0].period"),
        ('{scope: "team:nlp", metric: kgco2e, period: month, limit: 0}', "budgets[0].limit"),
        ('{scope: "team:nlp", metric: kgco2e, period: month, limit: .inf}', "at most"),
        ('{scope: "team:nlp", metric: kgco2e, period: month}', "budgets[0].limit: required"),
        ('{scope: "team:nobody", metric: kgco2e, period: month, limit: 5}', "no team"),
        ('{scope: "project:none", metric: kgco2e, period: month, limit: 5}', "no project"),
    ],
)
def test_bad_inventory_budgets_name_line_and_field_and_store_nothing(db, entry, message):
    text = f"teams:\n  - {{name: NLP, slug: nlp}}\nbudgets:\n  - {entry}\n"
    with pytest.raises(InventoryError) as error:
        inventory_load(text=text)
    assert message in str(error.value)
    assert "line 4" in str(error.value)
    assert not Budget.objects.exists()


def test_the_same_budget_twice_in_a_file_is_refused(db):
    text = (
        "budgets:\n"
        "  - {scope: organisation, metric: cost, period: month, limit: 5}\n"
        "  - {scope: organisation, metric: cost, period: month, limit: 6}\n"
    )
    with pytest.raises(InventoryError, match="line 3.*appears twice"):
        inventory_load(text=text)


def test_a_budget_needs_a_limit_above_zero_in_the_database_too(world):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Budget.objects.create(metric="cost", period="month", limit=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Budget.objects.create(
            team=world.nlp, project=world.project, metric="cost", period="month", limit=1
        )
