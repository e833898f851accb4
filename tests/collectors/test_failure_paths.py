"""Failure paths of the ingest plumbing: database trouble, cache outage, odd gzip."""

import gzip

from django.core.cache import cache
from django.db import OperationalError

from collectors import api
from collectors.models import IngestRejection, RawSample
from collectors.ratelimit import first_in_window, rate_limit_hit
from tests.collectors.factories import make_collector, payload, post_batch


def test_database_trouble_answers_503_with_retry_after(db, client, monkeypatch):
    _, token = make_collector()

    def deadlock(**kwargs):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(api, "batch_ingest", deadlock)
    response = post_batch(client, token, payload())
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {"error": "The database is busy; retry later.", "details": []}
    assert not IngestRejection.objects.exists()  # nothing was wrong with the batch


def test_rate_limit_lets_requests_through_when_the_cache_is_down(settings, monkeypatch):
    # The local-memory cache, made to fail (an unreachable Redis: test_ingest_costs.py).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    def broken(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "incr", broken)
    decision = rate_limit_hit("k", limit=1)
    assert decision.allowed
    monkeypatch.setattr(cache, "add", broken)
    assert first_in_window("k") is True


def test_rate_limit_window_resets_and_tells_when(monkeypatch):
    window_start = 1_800_000_000.0 - (1_800_000_000.0 % 60)
    assert rate_limit_hit("w", limit=1, now=window_start + 1).allowed
    refused = rate_limit_hit("w", limit=1, now=window_start + 45)
    assert (refused.allowed, refused.retry_after_s) == (False, 15)
    assert rate_limit_hit("w", limit=1, now=window_start + 61).allowed


def test_gzip_with_trailing_data_is_refused(db, client):
    _, token = make_collector()
    body = gzip.compress(b"{}") + gzip.compress(b"{}")
    response = post_batch(client, token, body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert response.json()["error"] == "Data follows the gzip stream; send one gzip member."
    assert RawSample.objects.count() == 0


def test_declared_content_length_over_the_limit_is_refused_before_reading(db, client, settings):
    _, token = make_collector()
    settings.INGEST_MAX_BODY_BYTES = 1024
    response = post_batch(client, token, b"{}", CONTENT_LENGTH="999999")
    assert response.status_code == 413
    assert response.json()["error"] == "The body is 999999 bytes; the limit is 1024."
