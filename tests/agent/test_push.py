import email.utils
import gzip

import pytest

from collectors.agent.push import (
    Backoff,
    Poster,
    backoff_delay,
    classify,
    parse_retry_after,
    plain_http_warning,
)
from tests.agent.fake_server import FakeServer


def test_2xx_with_the_acknowledgement_deletes_and_reads_the_answer():
    outcome = classify(202, '{"accepted": 5, "duplicate": false}', None, 0)
    assert (outcome.action, outcome.cause, outcome.accepted) == ("delete", "ok", 5)
    assert classify(200, '{"accepted": 0, "duplicate": true}', None, 0).cause == "duplicate"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_are_retried(status):
    assert classify(status, "", None, 0).action == "retry"


def test_429_is_retried_after_retry_after():
    outcome = classify(429, "", "30", 0)
    assert (outcome.action, outcome.cause, outcome.retry_after_s) == ("retry", "rate_limited", 30)


@pytest.mark.parametrize("status", [400, 403, 409, 413, 422])
def test_other_4xx_reject_the_batch_with_the_answer(status):
    outcome = classify(status, '{"error": "bad"}', None, 0)
    assert (outcome.action, outcome.detail) == ("reject", '{"error": "bad"}')


@pytest.mark.parametrize(("status", "cause"), [(401, "auth"), (404, "not_found")])
def test_token_or_url_problems_keep_the_batch(status, cause):
    outcome = classify(status, "", None, 0)
    assert (outcome.action, outcome.cause) == ("retry", cause)


def test_retry_after_as_http_date():
    now = 1_795_000_000.0
    header = email.utils.formatdate(now + 120, usegmt=True)
    assert parse_retry_after(header, now) == pytest.approx(120)
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_backoff_doubles_with_jitter_up_to_the_cap():
    backoff = Backoff(base_s=1, cap_s=8, rng=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    low = Backoff(base_s=1, cap_s=8, rng=lambda: 0.0)
    assert [low.next_delay() for _ in range(4)] == [0.5, 1, 2, 4]
    backoff.reset()
    assert backoff.next_delay() == 1


def test_backoff_waits_at_least_what_retry_after_asks():
    assert Backoff(base_s=1, cap_s=8, rng=lambda: 0.0).next_delay(60) == 60


def test_poster_sends_gzip_with_the_bearer_token():
    with FakeServer() as server:
        body = b'{"batch_id": "b1", "host": {"hostname": "h"}, "devices": [], "samples": []}'
        outcome = Poster(server.url, "gac_secret").post(gzip.compress(body))
        (request,) = server.ingest.received
    assert outcome.action == "delete"
    assert request.headers["Authorization"] == "Bearer gac_secret"
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.payload["batch_id"] == "b1"


def test_unreachable_server_is_a_network_retry():
    outcome = Poster("http://127.0.0.1:9", "t", timeout_s=2).post(b"x")
    assert (outcome.action, outcome.cause) == ("retry", "network")


@pytest.mark.parametrize(
    "body",
    [
        "",
        "<html>Welcome to the proxy</html>",
        '{"ok": true}',
        '{"accepted": "5", "duplicate": false}',
        '{"accepted": 5}',
        '{"accepted": true, "duplicate": false}',
        '{"accepted": -1, "duplicate": false}',
        '{"accepted": 5, "duplicate": "no"}',
        "[5, false]",
    ],
)
def test_2xx_without_the_acknowledgement_keeps_the_batch(body):
    outcome = classify(200, body, None, 0)
    assert (outcome.action, outcome.cause) == ("retry", "bad_answer")
    assert "acknowledgement" in outcome.detail


def batch(batch_id="b1") -> bytes:
    body = f'{{"batch_id": "{batch_id}", "host": {{"hostname": "h"}}, "samples": []}}'
    return gzip.compress(body.encode())


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed_and_names_its_location(status):
    with FakeServer() as elsewhere, FakeServer() as server:
        location = f"{elsewhere.url}/api/v1/ingest"
        server.ingest.script = [(status, {"Location": location}, "")]
        outcome = Poster(server.url, "gac_secret").post(batch())
        assert elsewhere.hits == []  # neither the POST nor a GET went there
    assert (outcome.action, outcome.cause, outcome.status) == ("retry", "redirect", status)
    assert location in outcome.detail and "never follows redirects" in outcome.detail


def test_a_200_from_something_else_than_the_ingest_api_keeps_the_batch():
    with FakeServer() as server:
        server.ingest.script = [(200, {}, "<html>captive portal</html>")]
        outcome = Poster(server.url, "t").post(batch())
    assert (outcome.action, outcome.cause) == ("retry", "bad_answer")


def test_a_server_slower_than_the_timeout_is_a_timeout():
    with FakeServer() as server:
        server.ingest.delay_s = 1.0
        outcome = Poster(server.url, "t", timeout_s=0.2).post(batch())
    assert (outcome.action, outcome.cause) == ("retry", "timeout")


@pytest.mark.parametrize(
    ("server", "warns"),
    [
        ("http://greenai.example.org", True),
        ("http://10.0.0.5:8000", True),
        ("http://[2001:db8::1]:8000", True),
        ("https://greenai.example.org", False),
        ("http://127.0.0.1:8000", False),
        ("http://127.8.0.1", False),
        ("http://localhost:8000", False),
        ("http://[::1]:8000", False),
    ],
)
def test_plain_http_to_another_machine_is_warned_about(server, warns):
    warning = plain_http_warning(server)
    assert (warning is not None) is warns
    if warns:
        assert "unencrypted" in warning and server in warning


def test_backoff_delay_is_capped_with_equal_jitter():
    assert backoff_delay(0, base_s=30, cap_s=1800, rng=lambda: 0.0) == 15
    assert backoff_delay(3, base_s=30, cap_s=1800, rng=lambda: 1.0) == 240
    assert backoff_delay(500, base_s=30, cap_s=1800, rng=lambda: 1.0) == 1800
