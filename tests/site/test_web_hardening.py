"""Web hardening: control characters refused in one place, login throttling, CSP, /metrics."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.utils import timezone

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice", password="right-password-1")


# --- Control characters in query strings and form fields --------------------------------------


@pytest.mark.django_db
def test_nul_in_an_api_query_string_is_a_json_400(client):
    answer = client.get("/api/v1/optimisations?project=%00")
    assert answer.status_code == 400
    body = answer.json()
    assert "project" in body["error"] and "U+0000" in body["error"]
    assert body["details"] == [{"field": "project", "message": "control character"}]


def test_control_character_in_a_page_query_string_is_a_plain_400(client, user):
    client.force_login(user)
    answer = client.get("/?team=%01")
    assert answer.status_code == 400
    assert answer["Content-Type"].startswith("text/html")
    assert b"team" in answer.content and b"U+0001" in answer.content


def test_control_character_in_a_query_parameter_name_is_refused(client, user):
    client.force_login(user)
    assert client.get("/?te%00am=x").status_code == 400


def test_nul_in_a_posted_form_field_is_refused_before_the_view(client, user):
    answer = client.post(LOGIN, {"username": "alice\x00", "password": "x"})
    assert answer.status_code == 400
    assert b"username" in answer.content
    assert not AccessAttempt.objects.exists()  # the login view never saw it


def test_line_breaks_in_a_form_field_are_text_not_control_characters(client, user):
    answer = client.post(LOGIN, {"username": "alice", "password": "wrong\r\n\tpassword"})
    assert answer.status_code == 200  # the login form's own answer: wrong password


def test_json_bodies_are_left_to_their_views(client, user):
    # The middleware parses only form bodies: an API's JSON is validated by the API itself.
    answer = client.post(
        "/api/v1/ingest", data=b'{"hostname": "a\\u0000"}', content_type="application/json"
    )
    assert answer.status_code == 401  # reached the ingest view (no token)


# --- Login throttling (django-axes) ------------------------------------------------------------


def _fail(client, url, username, times, address="10.0.0.1"):
    return [
        client.post(
            url, {"username": username, "password": "wrong"}, REMOTE_ADDR=address
        ).status_code
        for _ in range(times)
    ]


def test_ten_failed_logins_lock_the_username_out_even_with_the_right_password(client, user):
    # The tenth failure is answered with the lock-out page already.
    assert _fail(client, LOGIN, "alice", 10) == [200] * 9 + [429]
    answer = client.post(
        LOGIN, {"username": "alice", "password": "right-password-1"}, REMOTE_ADDR="10.0.0.2"
    )
    assert answer.status_code == 429
    assert b"Too many failed logins" in answer.content


def test_ten_failed_logins_from_one_address_lock_the_address_out(client, user):
    for number in range(10):
        _fail(client, LOGIN, f"guess-{number}", 1, address="10.9.9.9")
    answer = client.post(
        LOGIN, {"username": "alice", "password": "right-password-1"}, REMOTE_ADDR="10.9.9.9"
    )
    assert answer.status_code == 429
    # Another address still logs alice in.
    answer = client.post(
        LOGIN, {"username": "alice", "password": "right-password-1"}, REMOTE_ADDR="10.0.0.3"
    )
    assert answer.status_code == 302


def test_nine_failed_logins_do_not_lock_out(client, user):
    _fail(client, LOGIN, "alice", 9)
    answer = client.post(LOGIN, {"username": "alice", "password": "right-password-1"})
    assert answer.status_code == 302


def test_the_admin_login_is_throttled_too(client, user):
    assert _fail(client, ADMIN_LOGIN, "alice", 10) == [200] * 9 + [429]
    answer = client.post(ADMIN_LOGIN, {"username": "alice", "password": "right-password-1"})
    assert answer.status_code == 429


def test_the_lock_out_ends_after_the_cool_down(client, user):
    _fail(client, LOGIN, "alice", 10)
    assert client.post(LOGIN, {"username": "alice", "password": "x"}).status_code == 429
    # Fifteen minutes and a bit later (the attempts are dated back rather than waited for).
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    answer = client.post(LOGIN, {"username": "alice", "password": "right-password-1"})
    assert answer.status_code == 302


def test_failures_spread_beyond_fifteen_minutes_do_not_add_up(client, user):
    _fail(client, LOGIN, "alice", 9)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    _fail(client, LOGIN, "alice", 1)
    answer = client.post(LOGIN, {"username": "alice", "password": "right-password-1"})
    assert answer.status_code == 302


# --- Headers -------------------------------------------------------------------------------------


def test_pages_carry_a_content_security_policy_of_self_only(client, db):
    answer = client.get(LOGIN)
    policy = answer["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_no_template_has_inline_scripts_styles_or_event_handlers():
    import re

    from tests.processes import ROOT

    inline = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", re.I)
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        if path.parts[-2] == "reports":
            continue  # the PDF report is drawn by WeasyPrint, not a browser
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if inline.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


# --- /metrics ----------------------------------------------------------------------------------


def test_metrics_are_open_without_a_metrics_token(client, db, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 200


def test_metrics_need_the_bearer_token_when_one_is_set(client, db, settings):
    settings.METRICS_TOKEN = "scrape-secret-0123456789"
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret-0123456789")
    assert right.status_code == 200
    assert b"greenai_" in right.content


# --- Unknown API paths -------------------------------------------------------------------------


def test_an_unknown_api_path_answers_json_404(client, db):
    answer = client.get("/api/v1/optimisations/-1")
    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/json"
    assert "/api/v1/optimisations/-1" in answer.json()["error"]


def test_an_unknown_page_answers_the_plain_404_page(client, db):
    answer = client.get("/no-such-page/")
    assert answer.status_code == 404
    assert answer["Content-Type"].startswith("text/html")


# --- Body size limits ------------------------------------------------------------------------


def test_forms_take_djangos_default_body_limit(client, db, settings):
    from django.conf import global_settings

    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == global_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    answer = client.post(LOGIN, {"username": "x" * (3 * 1024 * 1024), "password": "y"})
    assert answer.status_code == 400


def test_ingest_reads_a_body_over_the_form_limit_itself(client, db, settings):
    import json

    from tests.collectors.factories import make_collector, payload, post_batch, samples_every_second

    _, token = make_collector()
    start = timezone.now() - timedelta(hours=2)
    batch = payload(samples=samples_every_second("GPU-0001", start, 4000))
    body = json.dumps(batch, indent=40).encode()
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    answer = post_batch(client, token, body)
    assert answer.status_code == 202, answer.content[:500]
    assert answer.json()["accepted"] == 4000
