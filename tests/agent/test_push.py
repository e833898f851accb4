import email.utils
import gzip

import pytest

from collectors.agent.push import Backoff, Poster, classify, parse_retry_after
from tests.agent.fake_server import FakeServer


def test_2xx_deletes_and_reads_the_answer():
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
