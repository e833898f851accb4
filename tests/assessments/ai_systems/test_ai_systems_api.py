"""The AI systems API: the hand-computed footprint, adding versions and what is refused."""

import json

import pytest
from django.contrib.auth.models import User

from assessments.models import AiSystemVersion, ApiToken, UserProfile
from assessments.organisation.services import api_token_create
from tests.assessments.ai_systems.factories import project, system, team, version, window
from tests.assessments.ai_systems.scenario import EXPECTED, PERIOD_QUERY, build_assistant

pytestmark = pytest.mark.django_db
approx = pytest.approx


def user(name, role="engineer", teams=("NLP",)):
    person = User.objects.create_user(name, password="pw")
    profile = UserProfile.objects.create(user=person, role=role)
    profile.teams.set([team(t) for t in teams])
    return person


def bearer(person, scope=ApiToken.Scope.WORK):
    _, token = api_token_create(user=person, name="t", scope=scope)
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def post_version(client, headers, body, slug="assistant"):
    return client.post(
        f"/api/v1/models/{slug}/versions",
        data=json.dumps(body),
        content_type="application/json",
        **headers,
    )


def test_the_footprint_api_agrees_with_the_hand_computation(client):
    build_assistant()
    viewer = user("viewer", role="viewer", teams=())
    answer = client.get(
        "/api/v1/models/assistant/versions/2.0/footprint", PERIOD_QUERY, **bearer(viewer)
    )
    assert answer.status_code == 200
    body = answer.json()
    for part in ("one_off", "serving"):
        for name, value in EXPECTED[part].items():
            assert body[part][name] == approx(value), (part, name)
    for name in ("requests", "input_tokens", "output_tokens", "requests_to_date"):
        assert body[name] == approx(EXPECTED[name])
    assert body["amortised_one_off_kgco2e_per_request"] == approx(EXPECTED["amortised_per_request"])
    for name in (
        "energy_kwh_per_1m_output_tokens",
        "kgco2e_per_1k_requests",
        "lifecycle_kgco2e_per_1k_requests",
    ):
        assert body[name] == approx(EXPECTED[name])
    assert body["lineage_lines"] == [EXPECTED["lineage"]]
    assert body["lineage"][0]["one_off_kgco2e"] == approx(2.6)


def test_unknown_versions_and_bad_periods_are_named(client):
    build_assistant()
    headers = bearer(user("viewer", role="viewer", teams=()))
    missing = client.get("/api/v1/models/assistant/versions/9.9/footprint", PERIOD_QUERY, **headers)
    assert missing.status_code == 404 and "9.9" in missing.json()["error"]
    backwards = client.get(
        "/api/v1/models/assistant/versions/2.0/footprint",
        {"start": "2026-12-01", "end": "2026-10-01"},
        **headers,
    )
    assert backwards.status_code == 400 and "end" in backwards.json()["error"]


def test_an_engineer_adds_a_version_and_an_overlapping_one_is_refused_naming_both(client):
    owner = system()
    project("chat")
    version(owner, "1.0", model_name="assistant", served_by=[window("chat", "2026-10-01")])
    headers = bearer(user("engineer"))
    created = post_version(
        client,
        headers,
        {
            "version": "2.0",
            "parent": "1.0",
            "relation": "distilled",
            "model_name": "assistant-2",
            "planned_requests": 50_000_000,
            "served_by": [{"project": "chat", "start": "2026-10-21", "end": None}],
        },
    )
    assert created.status_code == 201, created.content
    assert created.json()["served_by"][0]["project"] == "chat"
    refused = post_version(
        client,
        headers,
        {"version": "3.0", "served_by": [{"project": "chat", "start": "2026-11-01"}]},
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert "assistant 3.0" in error and "assistant 1.0" in error
    assert not AiSystemVersion.objects.filter(version="3.0").exists()


def test_who_may_add_versions(client):
    system()
    project("chat")
    project("vision-serve", team_name="Vision")
    body = {"version": "1.0", "served_by": [{"project": "chat", "start": "2026-10-01"}]}
    viewer = post_version(client, bearer(user("viewer", role="viewer", teams=())), body)
    assert viewer.status_code == 403
    other_team = post_version(client, bearer(user("vision", teams=("Vision",))), body)
    assert other_team.status_code == 403
    read_only = post_version(client, bearer(user("reader"), scope=ApiToken.Scope.READ), body)
    assert read_only.status_code == 403
    foreign = {"version": "1.0", "served_by": [{"project": "vision-serve", "start": "2026-10-01"}]}
    assert post_version(client, bearer(user("engineer")), foreign).status_code == 403
    bad = post_version(client, bearer(user("e2")), {"version": "1.0", "planned_requests": -1})
    assert bad.status_code == 400 and "planned_requests" in bad.json()["error"]
    unknown = post_version(
        client,
        bearer(user("e3")),
        {
            "version": "1.0",
            "produced_by": [{"project": "nope", "start": "2026-10-01", "end": "2026-10-02"}],
        },
    )
    assert unknown.status_code == 400 and "nope" in unknown.json()["error"]
    assert not AiSystemVersion.objects.exists()


def test_the_model_list_shows_versions_and_windows(client):
    build_assistant()
    body = client.get("/api/v1/models", **bearer(user("viewer", role="viewer", teams=()))).json()
    assert body["count"] == 1
    versions = {v["version"]: v for v in body["models"][0]["versions"]}
    assert versions["2.0"]["parent"] == "1.0" and versions["2.0"]["relation"] == "distilled"
    assert versions["2.0"]["produced_by"][0]["project"] == "llm-train"
