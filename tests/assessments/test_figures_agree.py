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
from assessments.footprint.selectors import unmeasured_embodied
from assessments.models import DailyProjectFact, UserProfile
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


def test_the_organisations_month_reads_the_same_on_the_overview_in_the_api_and_the_report(
    scenario, api
):
    report = report_figures()
    organisation = api("/api/v1/footprint")
    page = dashboards.period_totals(start=OCTOBER, end=NOVEMBER)
    assert_same(page, organisation, report)
    # The organisation's embodied carbon includes in-service hours nothing measured; the
    # overview's tiles and its unallocated panel carry them too.
    [unmeasured] = unmeasured_embodied([(OCTOBER, NOVEMBER)])
    assert unmeasured > 0
    measured_only = DailyProjectFact.objects.filter(day__gte=OCTOBER, day__lt=NOVEMBER)
    assert page["embodied_kgco2e"] == pytest.approx(
        measured_only.measure_sums()["embodied_kgco2e"] + unmeasured, rel=1e-9
    )
    waste = dashboards.unallocated(start=OCTOBER, end=NOVEMBER)
    assert waste["total"]["embodied_kgco2e"] == pytest.approx(
        organisation["unallocated_embodied_kgco2e"], rel=1e-9
    )
    assert waste["by_site"][-1]["label"] == "In service, no measurement"


def test_the_overviews_month_tile_carries_the_unmeasured_embodied_carbon(scenario):
    comparison = dashboards.kpi_comparison(end=NOVEMBER)
    period = comparison["periods"]["current"]
    expected = dashboards.period_totals(start=period.start, end=period.end)
    current = comparison["figures"]["current"]
    for name in ("embodied_kgco2e", "total_kgco2e", "operational_kgco2e"):
        assert current[name] == pytest.approx(expected[name], rel=1e-9), name
