"""The dashboards, the read API and the monthly report show the same figures for the same scope.

All three sum the facts through `MeasuresQuerySet.measure_sums` (the dashboards over the daily
facts, the API and the report over the hourly facts through footprint selectors' `footprint`),
so a project's or a team's month must read the same in each: IT energy, facility energy,
operational, embodied and total carbon, and cost.
"""

from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import User

from assessments.dashboards import selectors as dashboards
from assessments.models import UserProfile
from assessments.reports.report_summary import format_number
from assessments.reports.selectors import month_window, project_rows, report_context
from tests.assessments.reports.report_factories import OCTOBER, make_scenario

pytestmark = pytest.mark.django_db

# Dashboards' names (fact fields) -> the read API's and the report's names.
FIGURES = {
    "energy_it_kwh": "energy_kwh",
    "energy_facility_kwh": "facility_energy_kwh",
    "operational_kgco2e": "operational_kgco2e",
    "embodied_kgco2e": "embodied_kgco2e",
    "total_kgco2e": "total_kgco2e",
    "cost": "cost",
}
NOVEMBER = date(2026, 11, 1)


@pytest.fixture
def scenario():
    return make_scenario()


@pytest.fixture
def api(client):
    account = User.objects.create_user("viewer")
    UserProfile.objects.create(user=account, role="viewer")
    client.force_login(account)

    def get(path):
        response = client.get(path, {"start": OCTOBER.isoformat(), "end": NOVEMBER.isoformat()})
        assert response.status_code == 200, response.content
        return response.json()

    return get


def report_figures(team=None) -> dict:
    generated_at = datetime(2026, 11, 2, tzinfo=UTC)
    context = report_context(window=month_window(OCTOBER), team=team, generated_at=generated_at)
    return context["footprint"]


def assert_same(dashboard: dict, *others: dict) -> None:
    for field, name in FIGURES.items():
        assert dashboard[field] > 0, field
        for other in others:
            assert other[name] == pytest.approx(dashboard[field], rel=1e-9), name


def test_a_teams_month_reads_the_same_on_its_page_in_the_api_and_in_its_report(scenario, api):
    for team in scenario["teams"]:
        page = dashboards.period_totals(start=OCTOBER, end=NOVEMBER, team=team)
        assert_same(page, api(f"/api/v1/teams/{team.slug}/footprint"), report_figures(team))


def test_a_projects_month_reads_the_same_on_its_page_in_the_api_and_in_the_report(scenario, api):
    window = month_window(OCTOBER)
    rows = {row["name"]: row for row in project_rows(window=window, team=None, currency="EUR")}
    for project in scenario["projects"]:
        page = dashboards.period_totals(start=OCTOBER, end=NOVEMBER, project=project)
        assert_same(page, api(f"/api/v1/projects/{project.slug}/footprint"))
        # The report prints the project's row rounded as the board reads it.
        row = rows[project.name]
        for field, name in FIGURES.items():
            expected = format_number(page[field], 2 if name == "cost" else None)
            assert row[name] == expected, name


def test_the_organisations_month_reads_the_same_in_the_api_and_in_the_report(scenario, api):
    report = report_figures()
    organisation = api("/api/v1/footprint")
    for name in FIGURES.values():
        assert report[name] > 0, name
        assert organisation[name] == pytest.approx(report[name], rel=1e-9), name
    # The measured figures are the overview's too; the embodied carbon of in-service hours
    # without any measurement is the organisation's only (footprint selectors), not a page's.
    page = dashboards.period_totals(start=OCTOBER, end=NOVEMBER)
    for field in ("energy_it_kwh", "energy_facility_kwh", "operational_kgco2e", "cost"):
        assert page[field] == pytest.approx(organisation[FIGURES[field]], rel=1e-9), field
