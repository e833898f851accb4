"""The alerts page (active and past, by team, CSV), acknowledging, rule thresholds, the API and
the evaluate_alerts command."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client

from assessments.models import AlertEpisode, AlertRule, Team, UserProfile
from tests.assessments.dashboards.page_factories import make_user
from tests.assessments.watch.alert_factories import NOW, make_org, rule

pytestmark = pytest.mark.django_db
Kind = AlertRule.Kind


@pytest.fixture
def alerts():
    org = make_org()
    other = Team.objects.create(name="Vision", slug="vision")
    nlp_rule = rule(Kind.HOST_SILENT, threshold=30, team=org.team)
    vision_rule = rule(Kind.BUDGET_EXCEEDED, threshold=100, team=other)
    firing = AlertEpisode.objects.create(
        rule=nlp_rule, started_at=NOW, value=45, threshold=30, summary="=cmd|' /C calc'!A0"
    )
    past = AlertEpisode.objects.create(
        rule=vision_rule,
        started_at=NOW - timedelta(days=2),
        resolved_at=NOW - timedelta(days=1),
        value=120,
        threshold=100,
        summary="team:vision has used 120.0 of its 100.0 cost budget per month (120 %).",
    )
    return {"org": org, "firing": firing, "past": past, "other": other}


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_shows_firing_and_past_alerts_filtered_by_team(alerts):
    client = login(make_user("vera", UserProfile.Role.VIEWER))
    html = client.get("/alerts/").content.decode()
    assert f'data-alert="{alerts["firing"].pk}"' in html
    assert f'data-alert="{alerts["past"].pk}"' in html
    only = client.get("/alerts/?team=vision").content.decode()
    assert f'data-alert="{alerts["firing"].pk}"' not in only
    assert f'data-alert="{alerts["past"].pk}"' in only
    assert client.get("/alerts/?team=nobody").status_code == 400
    assert "/acknowledge/" not in html  # a viewer may not


def test_the_csv_lists_the_same_alerts_and_defuses_formulas(alerts):
    client = login(make_user("vera", UserProfile.Role.VIEWER))
    response = client.get("/alerts/export.csv?status=firing")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["id"] for row in rows] == [str(alerts["firing"].pk)]
    assert rows[0]["summary"].startswith("'=")
    assert rows[0]["scope"] == "team:nlp" and rows[0]["status"] == "firing"
    assert client.get("/alerts/export.csv?status=bogus").status_code == 400


def test_engineers_of_the_team_acknowledge_with_a_note(alerts):
    episode = alerts["firing"]
    outsider = make_user("vic", UserProfile.Role.ENGINEER, teams=[alerts["other"]])
    assert (
        login(outsider).post(f"/alerts/{episode.pk}/acknowledge/", {"note": "x"}).status_code == 403
    )
    engineer = make_user("eng", UserProfile.Role.ENGINEER, teams=[alerts["org"].team])
    client = login(engineer)
    too_long = client.post(f"/alerts/{episode.pk}/acknowledge/", {"note": "x" * 2001})
    assert too_long.status_code == 400
    response = client.post(f"/alerts/{episode.pk}/acknowledge/", {"note": "  rebooting node  "})
    assert response.status_code == 302
    episode.refresh_from_db()
    assert episode.acknowledged_by == engineer
    assert episode.acknowledgement_note == "rebooting node"
    assert "rebooting node" in client.get("/alerts/").content.decode()


def test_the_api_lists_firing_alerts(alerts):
    client = login(make_user("vera", UserProfile.Role.VIEWER))
    body = client.get("/api/v1/alerts?status=firing").json()
    assert body["count"] == 1
    (alert,) = body["alerts"]
    assert (alert["id"], alert["kind"], alert["scope"], alert["status"]) == (
        alerts["firing"].pk,
        "host_silent",
        "team:nlp",
        "firing",
    )
    assert alert["value"] == 45 and alert["threshold"] == 30
    assert client.get("/api/v1/alerts").json()["count"] == 2
    assert client.get("/api/v1/alerts?team=vision").json()["count"] == 1
    assert client.get("/api/v1/alerts?status=open").status_code == 400
    assert client.get("/api/v1/alerts?status=").status_code == 400
    assert client.get("/api/v1/alerts?team=nobody").status_code == 404
    assert Client().get("/api/v1/alerts").status_code == 401


def test_admins_edit_thresholds_and_others_may_not(alerts):
    r = alerts["firing"].rule
    engineer = make_user("eng", UserProfile.Role.ENGINEER, teams=[alerts["org"].team])
    assert login(engineer).post(f"/alerts/rules/{r.pk}/edit/", {"threshold": 5}).status_code == 403
    admin = login(make_user("ada", UserProfile.Role.ADMIN))
    bad = admin.post(f"/alerts/rules/{r.pk}/edit/", {"threshold": "-1", "enabled": "on"})
    assert bad.status_code == 400
    ok = admin.post(f"/alerts/rules/{r.pk}/edit/", {"threshold": "45", "enabled": "on"})
    assert ok.status_code == 302
    r.refresh_from_db()
    assert r.threshold == 45
    assert "minutes silent" in admin.get("/alerts/rules/").content.decode()


def test_the_command_evaluates_every_rule_now(db):
    org = make_org()
    rule(Kind.HOST_SILENT, threshold=30)
    org.host.last_seen_at = NOW - timedelta(days=400)  # silent whatever today is
    org.host.save()
    out = io.StringIO()
    call_command("evaluate_alerts", stdout=out)
    assert "firing: host_silent on organisation" in out.getvalue()
    assert "1 alert(s) changed." in out.getvalue()
    assert AlertEpisode.objects.filter(resolved_at__isnull=True).count() == 1


def test_the_beat_schedule_evaluates_alerts_and_rollups_trigger_the_fast_kinds(settings):
    from django.core.cache import cache

    from assessments import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["every-few-minutes-evaluate-alerts"]
    assert entry["task"] == "assessments.tasks.evaluate_alerts"
    assert entry["schedule"] == settings.ALERT_EVALUATE_EVERY_SECONDS
    cache.delete("alerts:fast-after-rollup")
    sent = []
    original = tasks.evaluate_alerts.apply_async
    tasks.evaluate_alerts.apply_async = lambda **kwargs: sent.append(kwargs)
    try:
        assert tasks.evaluate_fast_alerts_soon() is True
        assert tasks.evaluate_fast_alerts_soon() is False  # within the minute
    finally:
        tasks.evaluate_alerts.apply_async = original
    assert sent == [{"kwargs": {"kinds": ["budget_exceeded", "host_silent", "rollup_lag"]}}]


def test_the_openapi_schema_documents_budgets_and_alerts(db):
    client = login(make_user("vera", UserProfile.Role.VIEWER))
    schema = client.get("/api/v1/openapi.json").json()
    assert {"scope", "status"} <= {
        p["name"] for p in schema["paths"]["/api/v1/budgets"]["get"]["parameters"]
    }
    assert {"status", "team"} <= {
        p["name"] for p in schema["paths"]["/api/v1/alerts"]["get"]["parameters"]
    }
    components = schema["components"]["schemas"]
    assert {"value", "low", "high"} <= set(components["ForecastOut"]["properties"])
    assert "began_on" in components["AlertOut"]["properties"]
