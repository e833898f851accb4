"""Work records stay within what a real project can do: units at most 1e15, a period from 2000
on, at most a day ahead and a year long; on the API, the form and in the database. Personal
tokens record work only with the `work` scope."""

import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from assessments.models import ApiToken, Team, WorkRecord
from assessments.organisation.forms import WorkRecordForm
from assessments.organisation.services import api_token_create
from tests.assessments.footprint.test_read_api import DAY, post_work, scenario, user

pytestmark = pytest.mark.django_db
__all__ = ["scenario"]  # the fixture, shared with the read API's tests

NOW = timezone.now()


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"units": 1.7e308, "ts": "2026-11-02T12:00:00Z"}, "units", "1000000000000000"),
        ({"units": 1e15 + 1e3, "ts": "2026-11-02T12:00:00Z"}, "units", "1000000000000000"),
        ({"units": 5, "start": "0001-01-01T00:00:00Z", "end": "9999-01-01T00:00:00Z"}, "start", ""),
        ({"units": 5, "ts": "1999-12-31T23:00:00Z"}, "start", "2000-01-01"),
        ({"units": 5, "ts": _iso(NOW + timedelta(days=2))}, "end", "a day ahead"),
        (
            {"units": 5, "start": "2024-01-01T00:00:00Z", "end": "2025-02-01T00:00:00Z"},
            "end",
            "a year",
        ),
    ],
)
def test_work_outside_the_bounds_gets_400_naming_the_field(client, scenario, body, field, message):
    client.force_login(user("admin"))
    answer = post_work(client, body)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["error"] and message in answer.json()["error"]
    assert WorkRecord.objects.count() == 1


def test_work_at_the_bounds_is_accepted(client, scenario):
    client.force_login(user("admin"))
    year = {"start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}
    assert post_work(client, {"units": 1e15, **year}).status_code == 201
    soon = {"units": 1, "ts": _iso(NOW + timedelta(hours=23))}
    assert post_work(client, soon).status_code == 201


def test_two_records_at_the_units_bound_keep_the_footprint_api_answering(client, scenario):
    client.force_login(user("admin"))
    body = {"units": 1e15, "start": "2026-11-02T00:00:00Z", "end": "2026-11-03T00:00:00Z"}
    assert post_work(client, body).status_code == 201
    assert post_work(client, body).status_code == 201
    answer = client.get("/api/v1/projects/llm/footprint", DAY)
    assert answer.status_code == 200
    assert answer.json()["work_units"] == pytest.approx(2e15 + 1000)


def test_the_database_refuses_units_over_the_bound(scenario):
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkRecord.objects.create(
            project=scenario,
            units=1e16,
            period_start=datetime(2026, 11, 2, tzinfo=UTC),
            period_end=datetime(2026, 11, 3, tzinfo=UTC),
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkRecord.objects.create(
            project=scenario,
            units=1,
            period_start=datetime(2026, 11, 3, tzinfo=UTC),
            period_end=datetime(2026, 11, 2, tzinfo=UTC),
        )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"period_start": "2026-11-01", "period_end": "2026-11-02", "units": 1e16}, "units"),
        ({"period_start": "1999-12-01", "period_end": "2000-01-02", "units": 1}, "period_start"),
        ({"period_start": "2024-01-01", "period_end": "2025-02-01", "units": 1}, "period_end"),
        (
            {
                "period_start": str(date.today()),
                "period_end": str(date.today() + timedelta(days=3)),
                "units": 1,
            },
            "period_end",
        ),
    ],
)
def test_the_work_form_refuses_the_same_bounds(data, field):
    form = WorkRecordForm(data)
    assert not form.is_valid()
    assert field in form.errors


def test_the_work_form_accepts_a_sane_record():
    form = WorkRecordForm({"period_start": "2026-01-01", "period_end": "2026-02-01", "units": 5})
    assert form.is_valid(), form.errors


# --- Token scopes ---------------------------------------------------------------------------


def test_a_read_token_reads_but_may_not_record_work(client, scenario):
    _, token = api_token_create(user=user("admin"))
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get("/api/v1/projects/llm/footprint", DAY, **auth).status_code == 200
    answer = post_work(client, {"units": 5, "ts": "2026-11-02T12:00:00Z"}, **auth)
    assert answer.status_code == 403
    assert "work" in answer.json()["error"]
    assert WorkRecord.objects.count() == 1


def test_a_work_token_records_work_within_its_users_role(client, scenario):
    engineer = user("engineer", teams=[Team.objects.get(slug="nlp")])
    _, token = api_token_create(user=engineer, scope=ApiToken.Scope.WORK)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert post_work(client, {"units": 5, "ts": "2026-11-02T12:00:00Z"}, **auth).status_code == 201
    other = client.post(
        "/api/v1/projects/vision/work",
        json.dumps({"units": 5, "ts": "2026-11-02T12:00:00Z"}),
        content_type="application/json",
        **auth,
    )
    assert other.status_code == 403  # the scope adds nothing to the role


def test_new_tokens_are_read_only_unless_asked_otherwise():
    api_token, _ = api_token_create(user=user("admin"))
    assert api_token.scope == ApiToken.Scope.READ
    with pytest.raises(ValueError, match="scope"):
        api_token_create(user=user("admin", username="other"), scope="admin")


def test_createapitoken_scope_work_gives_a_token_that_records_work(client, scenario):
    user("admin", username="robot")
    out = io.StringIO()
    call_command("createapitoken", "robot", "--scope", "work", stdout=out, stderr=io.StringIO())
    token = out.getvalue().strip()
    answer = post_work(
        client, {"units": 5, "ts": "2026-11-02T12:00:00Z"}, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert answer.status_code == 201
    with pytest.raises(CommandError):
        call_command("createapitoken", "robot", "--scope", "everything", stderr=io.StringIO())
