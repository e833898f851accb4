"""Break-even of a distillation on a real database, against the hand computation.

Factors of tests/assessments/footprint/rollup_factories.py: PUE 1.5, 400 gCO2e/kWh,
0.20 EUR/kWh, 2 kgCO2e embodied per device-hour. One GPU:
- assistant 1.0 (engine name assistant-1) is served by chat in October; on 10-20 an hour at
  1000 W: 1.5 kWh facility, 0.6 + 2 = 2.6 kgCO2e, 0.30 EUR, for 10,000 requests:
  3e-5 EUR and 2.6e-4 kgCO2e per request (the 30 days before 2.0 was first served).
- 2.0 is distilled from it by the project distil (10-05 to 10-15); on 10-06 an hour at 2000 W:
  3 kWh facility, 1.2 + 2 = 3.2 kgCO2e, 0.60 EUR. The optimisation took 1 engineering hour at
  the organisation's 50 EUR/h: money one-off 50 + 0.60 = 50.60 EUR.
- 2.0 is served by chat from 11-01; on 11-20 an hour at 500 W: 0.75 kWh facility,
  0.3 + 2 = 2.3 kgCO2e, 0.15 EUR, for 20,000 requests: 7.5e-6 EUR and 1.15e-4 kgCO2e per
  request. Volume on 2026-12-01: 20,000 requests over 30 days = 666.67 a day.
Money: saving 2.25e-5 EUR per request; 50.60 / 2.25e-5 = 2,248,888.9 requests; 2,228,888.9
left = 3,343.3 days -> 3,344 days after 2026-12-01 = 2036-01-27.
Carbon: saving 1.45e-4 kgCO2e per request; 3.2 / 1.45e-4 = 22,069.0 requests; 2,069.0 left
= 3.10 days -> 2026-12-05.
"""

from datetime import UTC, date, datetime

import pytest
from django.core.exceptions import ValidationError

from assessments.decisions import services
from assessments.decisions.break_even import Outcome
from assessments.decisions.selectors import optimisation_measure
from assessments.footprint.rollup import rollup_dirty_hours
from assessments.models import Optimisation, Organisation, Team, Technique, UserProfile
from assessments.organisation.services import api_token_create
from tests.assessments.ai_systems.factories import project, system, version, window
from tests.assessments.ai_systems.scenario import gpu, measured, run_hour
from tests.assessments.dashboards.page_factories import make_user

pytestmark = pytest.mark.django_db
approx = pytest.approx
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def distillation():
    organisation = Organisation.get()
    organisation.engineer_hourly_rate = 50.0
    organisation.currency = "EUR"
    organisation.save()
    device = gpu()
    chat = project("chat")
    project("distil", phase="training", work_kind="other")
    run_hour(device, "chat", "2026-10-20T10:00", 1000.0)
    run_hour(device, "distil", "2026-10-06T10:00", 2000.0)
    run_hour(device, "chat", "2026-11-20T10:00", 500.0)
    rollup_dirty_hours()
    measured("chat", "2026-10-20T10:00", "assistant-1", requests=10_000)
    measured("chat", "2026-11-20T10:00", "assistant-2", requests=20_000)
    owner = system()
    first = version(
        owner,
        "1.0",
        model_name="assistant-1",
        served_by=[window("chat", "2026-10-01", "2026-11-01")],
    )
    second = version(
        owner,
        "2.0",
        parent=first,
        relation="distilled",
        model_name="assistant-2",
        produced_by=[window("distil", "2026-10-05", "2026-10-15")],
        served_by=[window("chat", "2026-11-01")],
    )
    return services.optimisation_create(
        project=chat,
        technique=Technique.DISTILLATION,
        title="Distil the assistant",
        status="applied",
        applied_on=date(2026, 11, 1),
        engineering_hours=1.0,
        version=second,
    )


def test_a_distillation_breaks_even_as_computed_by_hand(distillation):
    result = optimisation_measure(optimisation=distillation, now=NOW).break_even
    assert (result.version, result.parent) == ("assistant 2.0", "assistant 1.0")
    assert result.as_of == date(2026, 12, 1)
    assert result.investment == approx(50.0)
    assert result.one_off_cost == approx(0.60)
    assert result.one_off_energy_kwh == approx(3.0)
    assert result.one_off_kgco2e == approx(3.2)
    assert result.parent_window == (date(2026, 10, 2), date(2026, 11, 1))
    assert result.parent_cost_per_request == approx(3e-5)
    assert result.parent_kgco2e_per_request == approx(2.6e-4)
    assert result.cost_per_request == approx(7.5e-6)
    assert result.kgco2e_per_request == approx(1.15e-4)
    money, carbon = result.money, result.carbon
    assert money.requests_per_day == approx(20_000 / 30)
    assert money.requests_served == approx(20_000)
    assert money.one_off == approx(50.60)
    assert money.saving_per_request == approx(2.25e-5)
    assert money.requests_to_break_even == approx(2_248_888.889)
    assert money.days_left == approx(3_343.333)
    assert money.date == date(2036, 1, 27)
    assert money.outcome == Outcome.PENDING
    assert carbon.one_off == approx(3.2)
    assert carbon.saving_per_request == approx(1.45e-4)
    assert carbon.requests_to_break_even == approx(22_068.966)
    assert carbon.days_left == approx(3.1034, rel=1e-4)
    assert carbon.date == date(2026, 12, 5)
    assert result.notes == []


def test_the_api_and_the_roi_page_show_the_break_even(client, distillation, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    reader = make_user("vera", UserProfile.Role.VIEWER)
    _, token = api_token_create(user=reader)
    answer = client.get(
        f"/api/v1/optimisations/{distillation.pk}", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert answer.status_code == 200
    body = answer.json()["break_even"]
    assert body["version"] == "assistant 2.0" and body["currency"] == "EUR"
    assert body["money"]["one_off"] == approx(50.60)
    assert body["money"]["requests_to_break_even"] == approx(2_248_888.889)
    assert body["money"]["date_paid_back"] == "2036-01-27"
    assert body["carbon"]["requests_to_break_even"] == approx(22_068.966)
    assert body["carbon"]["date_paid_back"] == "2026-12-05"
    assert body["carbon"]["outcome"] == "pending"
    assert body["requests_per_day"] == approx(666.667)
    listed = client.get("/api/v1/optimisations", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert listed["optimisations"][0]["break_even"] == body

    client.force_login(reader)
    html = client.get("/roi/").content.decode()
    detail = html[html.index(f'data-break-even="{distillation.pk}"') :]
    assert "Break-even of version assistant 2.0 against assistant 1.0" in detail
    assert "2036-01-27" in detail and "2026-12-05" in detail
    assert "2,248,889" in detail and "22,069" in detail
    assert "50.60" in detail


def test_no_parent_or_a_dearer_version_never_pays_back(distillation):
    second = distillation.version
    second.parent, second.relation = None, ""
    second.save()
    result = optimisation_measure(optimisation=distillation, now=NOW).break_even
    assert result.money.outcome == result.carbon.outcome == Outcome.NEVER
    assert result.money.date is None and result.carbon.requests_to_break_even is None
    assert "has no parent version" in result.notes[0]


def test_without_requests_lately_there_is_no_date(distillation):
    later = datetime(2027, 1, 15, tzinfo=UTC)  # the 11-20 hour is out of the last 30 days
    result = optimisation_measure(optimisation=distillation, now=later).break_even
    # Per request as before (everything served since 11-01), but no request lately: 22,069
    # requests would repay the carbon, 20,000 are served, and no date can be named.
    assert result.kgco2e_per_request == approx(1.15e-4)
    assert result.money.requests_per_day == 0
    assert result.carbon.outcome == result.money.outcome == Outcome.NO_VOLUME
    assert result.carbon.requests_to_break_even == approx(22_068.966)
    assert result.carbon.date is None
    assert "served no request in the last 30 days" in result.notes[0]


def test_a_version_is_linked_only_to_a_technique_that_makes_one_of_its_own_team(distillation):
    second = distillation.version
    with pytest.raises(ValidationError) as caught:
        services.optimisation_update(optimisation=distillation, technique=Technique.BATCHING)
    assert "version" in caught.value.message_dict
    distillation.refresh_from_db()
    assert distillation.technique == Technique.DISTILLATION
    other = version(system("vision", team_name="CV"), "1")
    with pytest.raises(ValidationError) as caught:
        services.optimisation_update(optimisation=distillation, version=other)
    assert "another team" in caught.value.message_dict["version"][0]
    distillation.refresh_from_db()
    assert distillation.version == second


def _form(project_pk, **values):
    data = {
        "project": str(project_pk),
        "technique": "distillation",
        "title": "Distil",
        "status": "planned",
        "applied_on": "",
        "engineering_hours": "1",
        "hourly_rate": "",
        "other_costs": "0",
        "baseline_days": "14",
        "evaluation_days": "14",
    }
    return data | values


def test_an_engineer_links_a_version_of_their_team_in_the_form(client, distillation):
    chat = distillation.project
    second = distillation.version
    other = version(system("vision", team_name="CV"), "1")
    nlp = Team.objects.get(slug="nlp")
    client.force_login(make_user("erin", UserProfile.Role.ENGINEER, [nlp]))
    refused = client.post(
        "/roi/optimisations/new/", _form(chat.pk, title="Foreign", version=str(other.pk))
    )
    assert refused.status_code == 200
    assert "Select a valid choice" in refused.content.decode()
    assert not Optimisation.objects.filter(title="Foreign").exists()
    for hostile in ("99999999999999999999", "-1", "x'; --"):
        answer = client.post(
            "/roi/optimisations/new/", _form(chat.pk, title="Foreign", version=hostile)
        )
        assert answer.status_code == 200 and "Select a valid choice" in answer.content.decode()
    assert not Optimisation.objects.filter(title="Foreign").exists()
    batching = client.post(
        "/roi/optimisations/new/",
        _form(chat.pk, title="Batch", technique="batching", version=str(second.pk)),
    )
    assert "produces no new version of a model" in batching.content.decode()
    assert not Optimisation.objects.filter(title="Batch").exists()
    saved = client.post("/roi/optimisations/new/", _form(chat.pk, version=str(second.pk)))
    assert saved.status_code == 302
    assert Optimisation.objects.get(title="Distil").version == second
