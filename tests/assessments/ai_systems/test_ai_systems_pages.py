"""The AI systems pages: the hand-computed figures and lineage line, the forms and who may use
them."""

import pytest
from django.contrib.auth.models import User

from assessments.models import AiSystemVersion, UserProfile
from tests.assessments.ai_systems.factories import project, system, team, version, window
from tests.assessments.ai_systems.scenario import PERIOD_QUERY, build_assistant

pytestmark = pytest.mark.django_db


def login(client, name, role="engineer", teams=("NLP",)):
    person = User.objects.create_user(name, password="pw")
    profile = UserProfile.objects.create(user=person, role=role)
    profile.teams.set([team(t) for t in teams])
    client.force_login(person)
    return person


def test_the_model_page_shows_the_hand_computed_figures_and_the_lineage(client):
    build_assistant()
    login(client, "viewer", role="viewer", teams=())
    page = client.get("/ai-systems/assistant/", PERIOD_QUERY)
    assert page.status_code == 200
    text = page.content.decode()
    assert "2.0 distilled from 1.0: one-off 2.6 kgCO2e, shown, not added" in text
    for expected in (
        "5.200 kgCO2e",  # one-off
        "5.800 kgCO2e",  # serving
        "50,000",  # requests
        "0.3000 kWh",  # per 1 M output tokens
        "0.1160 kgCO2e",  # serving per 1,000 requests
        "0.000052 kgCO2e",  # amortised one-off per request
        "0.1680 kgCO2e",  # lifecycle per 1,000 requests
    ):
        assert expected in text, expected
    assert "Add a version" not in text  # viewers read only
    assert client.get("/ai-systems/").status_code == 200


def test_an_engineer_adds_a_version_and_the_form_refuses_an_overlap_naming_both(client):
    owner = system()
    project("chat")
    version(owner, "1.0", model_name="assistant", served_by=[window("chat", "2026-10-01")])
    login(client, "engineer")
    saved = client.post(
        "/ai-systems/assistant/versions/new/",
        {"version": "2.0", "model_name": "assistant-2", "served_by": "chat 2026-10-21 open"},
    )
    assert saved.status_code == 302
    refused = client.post(
        "/ai-systems/assistant/versions/new/",
        {"version": "3.0", "served_by": "chat 2026-11-01"},
    )
    assert refused.status_code == 200
    text = refused.content.decode()
    assert "assistant 3.0" in text and "assistant 1.0" in text
    assert not AiSystemVersion.objects.filter(version="3.0").exists()
    bad = client.post(
        "/ai-systems/assistant/versions/new/", {"version": "4.0", "served_by": "chat soon"}
    )
    assert "dates are YYYY-MM-DD" in bad.content.decode()


def test_the_edit_form_keeps_the_windows_and_saves_changes(client):
    owner = system()
    version(owner, "1.0", served_by=[window("chat", "2026-10-01")], planned_requests=10)
    login(client, "engineer")
    form = client.get("/ai-systems/assistant/versions/1.0/edit/")
    assert "chat 2026-10-01 open" in form.content.decode()
    client.post(
        "/ai-systems/assistant/versions/1.0/edit/",
        {"version": "1.0", "planned_requests": "500", "served_by": "chat 2026-10-01 open"},
    )
    assert AiSystemVersion.objects.get(version="1.0").planned_requests == 500


def test_viewers_and_other_teams_may_not_change_a_model(client):
    system()
    login(client, "vision", teams=("Vision",))
    assert client.get("/ai-systems/assistant/versions/new/").status_code == 403
    assert (
        client.post("/ai-systems/new/", {"slug": "x", "name": "X", "team": team().pk}).status_code
        == 200
    )
    client.logout()
    login(client, "viewer", role="viewer", teams=())
    assert client.get("/ai-systems/new/").status_code == 403


def test_an_engineer_creates_an_ai_system_of_their_team(client):
    login(client, "engineer")
    created = client.post("/ai-systems/new/", {"slug": "assistant", "name": "A", "team": team().pk})
    assert created.status_code == 302
    again = client.post("/ai-systems/new/", {"slug": "assistant", "name": "B", "team": team().pk})
    assert "already exists" in again.content.decode()
