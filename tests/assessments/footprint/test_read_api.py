"""The read API and the footprint selectors behind it, with hand-computed numbers.

Scenario (factors of tests/assessments/footprint/rollup_factories.py: PUE 1.5, 400 g/kWh, 0.20
EUR/kWh, 2 kgCO2e per device-hour): on 2026-11-02 a GPU ran one full hour at 1000 W (1 kWh), tagged
70% "llm" (team NLP) and 30% "vision" (team CV). It is in service all day (first seen the day
before) but reported only that hour. A second GPU on another host never reported. "llm" recorded
1000 work units.
"""

import io
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from assessments.footprint.rollup import rollup_dirty_hours
from assessments.footprint.selectors import footprint
from assessments.models import Project, UserProfile, WorkRecord
from assessments.organisation.services import api_token_create, api_token_revoke, work_record_create
from tests.assessments.footprint.rollup_factories import (
    HOUR,
    T0,
    add_samples,
    make_device,
    make_host,
    make_project,
    make_site,
)

pytestmark = pytest.mark.django_db
DAY = {"start": "2026-11-02", "end": "2026-11-03"}
REL = 1e-3  # 0.1 %

LLM = {
    "energy_kwh": 0.7,
    "facility_energy_kwh": 1.05,
    "operational_kgco2e": 0.42,  # 1.05 kWh x 400 g
    "embodied_kgco2e": 1.4,  # 0.7 h x 2 kg/h
    "total_kgco2e": 1.82,
    "cost": 0.21,
    "gpu_hours": 0.7,
    "work_units": 1000.0,
    "sci": 0.00182,
    "coverage": 1 / 24,  # 1 h measured of 24 h in service
}
# Embodied: the measured hour (2 kg), the 23 other hours of the reporting GPU (46 kg) and the
# 24 hours of the GPU that never reported (48 kg); the last two are unallocated.
ORGANISATION = {
    "energy_kwh": 1.0,
    "facility_energy_kwh": 1.5,
    "operational_kgco2e": 0.6,
    "embodied_kgco2e": 96.0,
    "total_kgco2e": 96.6,
    "cost": 0.3,
    "gpu_hours": 1.0,
    "work_units": 1000.0,
    "sci": 0.0966,
    "coverage": 1 / 24,
    "unallocated_energy_kwh": 0.0,
    "unallocated_embodied_kgco2e": 94.0,
}


@pytest.fixture
def scenario():
    site = make_site()
    gpu = make_device(make_host(site))
    make_device(make_host(site))  # in service, never reported
    llm = make_project("llm", team_name="NLP")
    make_project("vision", team_name="CV", phase="inference")
    tags = [{"project": "llm", "share": 0.7}, {"project": "vision", "share": 0.3}]
    add_samples(gpu, end=T0 + HOUR, count=360, every_s=10.0, power_w=1000.0, tags=tags)
    rollup_dirty_hours()
    work_record_create(project=llm, units=1000, start=T0, end=T0 + 2 * HOUR)
    return llm


def user(role="viewer", teams=(), username=None):
    account = User.objects.create_user(username or f"{role}-user")  # no password: fast
    profile = UserProfile.objects.create(user=account, role=role)
    profile.teams.set(teams)
    return account


def assert_figures(data, expected):
    for key, value in expected.items():
        assert data[key] == pytest.approx(value, rel=REL), key


# --- selectors ---------------------------------------------------------------------------------


def test_project_footprint_equals_the_hand_computed_figures(scenario):
    data = footprint(start=date(2026, 11, 2), end=date(2026, 11, 3), project="llm")
    assert_figures(data, LLM)
    assert data["currency"] == "EUR"
    assert "unallocated_energy_kwh" not in data


def test_organisation_footprint_counts_all_in_service_time(scenario):
    data = footprint(start=date(2026, 11, 2), end=date(2026, 11, 3))
    assert_figures(data, ORGANISATION)


def test_team_footprint_sums_its_projects(scenario):
    assert_figures(footprint(start=date(2026, 11, 2), end=date(2026, 11, 3), team="nlp"), LLM)
    vision = footprint(start=date(2026, 11, 2), end=date(2026, 11, 3), team="cv")
    assert vision["energy_kwh"] == pytest.approx(0.3)
    assert vision["sci"] is None  # no work units


def test_sci_is_null_where_projects_count_different_units(scenario):
    scenario.work_unit = "training samples"
    scenario.save()
    vision = Project.objects.get(slug="vision")
    vision.work_unit = "images"
    vision.save()
    work_record_create(project=vision, units=500, start=T0, end=T0 + 2 * HOUR)
    data = footprint(start=date(2026, 11, 2), end=date(2026, 11, 3))
    assert data["work_units"] == pytest.approx(1500)
    assert data["sci"] is None
    vision.work_unit = "training samples"
    vision.save()
    data = footprint(start=date(2026, 11, 2), end=date(2026, 11, 3))
    assert data["sci"] == pytest.approx(ORGANISATION["total_kgco2e"] / 1500, rel=REL)


def test_phase_filter_uses_the_phase_of_each_part(scenario):
    data = footprint(start=date(2026, 11, 2), end=date(2026, 11, 3), phase="inference")
    assert data["energy_kwh"] == pytest.approx(0.3)


def test_a_period_without_data_is_all_zero_and_coverage_null(scenario):
    data = footprint(start=date(2026, 10, 1), end=date(2026, 10, 2), project="llm")
    assert data["energy_kwh"] == 0 and data["coverage"] is None and data["sci"] is None


def test_unallocated_energy_is_reported_for_the_organisation():
    site = make_site()
    gpu = make_device(make_host(site))
    add_samples(gpu, end=T0 + HOUR, count=60, every_s=60.0, power_w=100.0)
    rollup_dirty_hours()
    data = footprint(start=date(2026, 11, 2), end=date(2026, 11, 3))
    assert data["unallocated_energy_kwh"] == pytest.approx(0.1)
    # Everything is unallocated: the whole day of embodied carbon.
    assert data["unallocated_embodied_kgco2e"] == pytest.approx(48.0)
    assert data["embodied_kgco2e"] == pytest.approx(48.0)


def test_a_decommissioned_host_stops_counting_embodied_carbon():
    site = make_site()
    host = make_host(site, purchased=date(2026, 1, 1))
    host.decommissioned = date(2026, 11, 2)
    host.save()
    make_device(host)
    data = footprint(start=date(2026, 11, 1), end=date(2026, 11, 3))
    assert data["embodied_kgco2e"] == pytest.approx(24 * 2.0)


def test_work_units_are_prorated_to_the_period(scenario):
    WorkRecord.objects.all().delete()
    work_record_create(
        project=scenario, units=300, start=T0 - timedelta(days=2), end=T0 + timedelta(days=1)
    )
    data = footprint(start=date(2026, 11, 2), end=date(2026, 11, 3), project="llm")
    # The record runs 72 h from 10:00 on 31 Oct; the period holds 24 h of it -> 100 units.
    assert data["work_units"] == pytest.approx(100)


# --- API: authentication ----------------------------------------------------------------------


URL = "/api/v1/projects/llm/footprint"


def test_anonymous_requests_get_401(client, scenario):
    response = client.get(URL, DAY)
    assert response.status_code == 401
    assert "error" in response.json()


def test_a_logged_in_session_reads_the_footprint(client, scenario):
    client.force_login(user())
    response = client.get(URL, DAY)
    assert response.status_code == 200
    assert_figures(response.json(), LLM)
    assert response.json()["project"] == "llm"
    assert response.json()["team"] == "nlp"


def test_a_personal_token_reads_the_footprint(client, scenario):
    _, token = api_token_create(user=user())
    response = client.get(URL, DAY, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert_figures(response.json(), LLM)


def test_a_revoked_or_malformed_token_gets_401(client, scenario):
    api_token, token = api_token_create(user=user())
    api_token_revoke(api_token=api_token)
    assert client.get(URL, DAY, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert client.get(URL, DAY, HTTP_AUTHORIZATION="Bearer nonsense").status_code == 401


def test_createapitoken_prints_a_working_token_once(client, scenario):
    user(username="alice")
    out = io.StringIO()
    call_command("createapitoken", "alice", stdout=out, stderr=io.StringIO())
    token = out.getvalue().strip()
    assert token.startswith("gat_")
    assert client.get(URL, DAY, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    with pytest.raises(CommandError, match="No user named 'bob'"):
        call_command("createapitoken", "bob")


# --- API: parameters and numbers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"end": "2026-11-03"}, "start"),
        ({"start": "2026-11-02"}, "end"),
        ({"start": "2026-11-32", "end": "2026-12-03"}, "start"),
        ({"start": "yesterday", "end": "2026-11-03"}, "start"),
        ({"start": "2026-11-02", "end": "20261103"}, "end"),
        ({"start": "2026-11-04", "end": "2026-11-03"}, "end"),
    ],
)
def test_bad_or_missing_dates_get_400_naming_the_parameter(client, scenario, query, field):
    client.force_login(user())
    response = client.get(URL, query)
    assert response.status_code == 400
    body = response.json()
    assert f"'{field}'" in body["error"]
    assert field in [d["field"] for d in body["details"]]


@pytest.mark.parametrize(
    "url", [URL, "/api/v1/teams/nlp/footprint", "/api/v1/footprint", "/api/v1/jobs"]
)
def test_end_equal_to_start_is_the_empty_period(client, scenario, url):
    """The day the scenario measured and recorded work in, as an empty period [day, day)."""
    client.force_login(user())
    response = client.get(url, {"start": "2026-11-02", "end": "2026-11-02"})
    assert response.status_code == 200
    body = response.json()
    assert (body["start"], body["end"]) == ("2026-11-02", "2026-11-02")
    if url == "/api/v1/jobs":
        assert body["jobs"] == []
        return
    figures = {key: 0.0 for key in LLM}
    figures.update(sci=None, coverage=None)
    if url == "/api/v1/footprint":
        figures.update(unallocated_energy_kwh=0.0, unallocated_embodied_kgco2e=0.0)
    assert {key: body[key] for key in figures} == figures
    assert body["codecarbon"] is None
    assert body["currency"] == "EUR"
    assert body["factors"]["sites"] == []


def test_unknown_project_team_or_site_gets_404(client, scenario):
    client.force_login(user())
    assert client.get("/api/v1/projects/nope/footprint", DAY).status_code == 404
    assert client.get("/api/v1/teams/nope/footprint", DAY).status_code == 404
    assert client.get("/api/v1/footprint", {**DAY, "site": "nope"}).status_code == 404


def test_organisation_and_team_endpoints_give_the_hand_computed_figures(client, scenario):
    client.force_login(user())
    org = client.get("/api/v1/footprint", DAY).json()
    assert_figures(org, ORGANISATION)
    assert org["factors"]["sites"][0]["pue"] == [1.5, 1.5]
    assert org["factors"]["grid_sources"] == ["test annual value (2024)"]
    team = client.get("/api/v1/teams/nlp/footprint", DAY).json()
    assert_figures(team, LLM)
    site = client.get("/api/v1/footprint", {**DAY, "site": "lab"}).json()
    assert_figures(site, ORGANISATION)


# --- API: work units ------------------------------------------------------------------------


WORK_URL = "/api/v1/projects/llm/work"


def post_work(client, body, **headers):
    import json

    return client.post(WORK_URL, json.dumps(body), content_type="application/json", **headers)


def test_an_engineer_of_the_team_records_work_units(client, scenario):
    from assessments.models import Team

    client.force_login(user("engineer", teams=[Team.objects.get(slug="nlp")]))
    response = post_work(
        client, {"units": 500, "start": "2026-11-02T12:00:00Z", "end": "2026-11-02T13:00:00Z"}
    )
    assert response.status_code == 201, response.content
    assert response.json()["units"] == 500
    data = footprint(start=date(2026, 11, 2), end=date(2026, 11, 3), project="llm")
    assert data["work_units"] == pytest.approx(1500)


def test_work_at_one_instant_with_a_work_token(client, scenario):
    _, token = api_token_create(user=user("admin"), scope="work")
    response = post_work(
        client,
        {"units": 7, "ts": "2026-11-02T12:00:00+00:00"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 201
    record = WorkRecord.objects.get(pk=response.json()["id"])
    assert record.period_start == record.period_end


def test_viewers_and_engineers_of_other_teams_may_not_record_work(client, scenario):
    from assessments.models import Team

    client.force_login(user("viewer"))
    body = {"units": 5, "ts": "2026-11-02T12:00:00Z"}
    assert post_work(client, body).status_code == 403
    client.force_login(user("engineer", teams=[Team.objects.get(slug="cv")]))
    assert post_work(client, body).status_code == 403
    assert WorkRecord.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"units": 0, "ts": "2026-11-02T12:00:00Z"}, "units"),
        ({"units": "5", "ts": "2026-11-02T12:00:00Z"}, "units"),
        ({"units": 5}, "give start and end, or ts"),
        ({"units": 5, "start": "2026-11-02T12:00:00Z"}, "give start and end"),
        ({"units": 5, "ts": "2026-11-02T12:00:00"}, "time zone"),
        ({"units": 5, "start": "2026-11-02T13:00:00Z", "end": "2026-11-02T12:00:00Z"}, "after"),
        ({"units": 5, "ts": "2026-11-02T12:00:00Z", "extra": 1}, "extra"),
    ],
)
def test_bad_work_bodies_get_400_and_store_nothing(client, scenario, body, field):
    client.force_login(user("admin"))
    response = post_work(client, body)
    assert response.status_code == 400
    assert field in response.json()["error"]
    assert WorkRecord.objects.count() == 1


def test_a_body_that_is_not_json_gets_400(client, scenario):
    client.force_login(user("admin"))
    response = client.post(WORK_URL, "units=5", content_type="application/json")
    assert response.status_code == 400


def test_get_on_the_work_endpoint_is_refused(client, scenario):
    client.force_login(user("admin"))
    assert client.get(WORK_URL).status_code == 405


# --- OpenAPI -------------------------------------------------------------------------------------


def test_openapi_schema_lists_the_read_api(client):
    schema = client.get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    assert "get" in paths["/api/v1/projects/{slug}/footprint"]
    assert "post" in paths["/api/v1/projects/{slug}/work"]
    assert "get" in paths["/api/v1/teams/{slug}/footprint"]
    assert "get" in paths["/api/v1/footprint"]
    footprint_schema = schema["components"]["schemas"]["OrganisationFootprint"]
    assert "unallocated_embodied_kgco2e" in footprint_schema["properties"]
    assert "WorkRequest" in schema["components"]["schemas"]


def test_login_page_renders(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"Log in" in response.content
