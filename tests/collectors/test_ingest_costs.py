"""What one ingest request costs: database queries, last-seen writes, rate-limit counting."""

import uuid
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assessments.models import Project, Team
from collectors import services
from collectors.models import Collector, Device, Host, IngestBatch, RawSample
from collectors.ratelimit import first_in_window, rate_limit_hit
from collectors.services import LAST_SEEN_RESOLUTION, batch_ingest
from tests.collectors.factories import T0, device, make_collector, payload, post_batch, sample

# A batch of known host and devices on PostgreSQL: the collector (token), the batch_id check,
# the host, the devices, the tags' projects; then BEGIN, the batch row, the samples' statement
# (after their COPY, which is not counted here), COMMIT.
STEADY_STATE_QUERIES = 9

GPUS = [f"GPU-{index:04d}" for index in range(8)]


def fleet_batch(step: int) -> dict:
    """One push of an 8-GPU host, tagged, like the fleet's agents send every 10 s."""
    ts = T0 + timedelta(seconds=10 * (step + 1))
    tags = [{"project": "chat", "phase": "training", "share": 0.7}]
    return payload(
        [sample(uuid_, ts=ts, tags=tags) for uuid_ in GPUS],
        devices=[device(uuid_, index) for index, uuid_ in enumerate(GPUS)],
    )


@pytest.mark.django_db(transaction=True)  # real BEGIN/COMMIT, as in production
def test_a_steady_state_batch_on_postgres_costs_a_bounded_number_of_queries(client, on_postgres):
    if not on_postgres:
        pytest.skip("the counted path is PostgreSQL's")
    team = Team.objects.create(name="NLP", slug="nlp")
    Project.objects.create(name="Chat", slug="chat", team=team)
    _, token = make_collector(team=team)
    assert post_batch(client, token, fleet_batch(0), compress=True).status_code == 202
    with CaptureQueriesContext(connection) as queries:
        response = post_batch(client, token, fleet_batch(1), compress=True)
    assert response.json() == {"accepted": 8, "duplicate": False}
    statements = [query["sql"].strip() for query in queries.captured_queries]
    assert len(statements) <= STEADY_STATE_QUERIES, "\n".join(statements)
    # No savepoint, no staging DDL, no separate TRUNCATE or UPDATE (last-seen is fresh).
    assert not [
        sql for sql in statements if sql.startswith(("SAVEPOINT", "CREATE", "TRUNCATE", "UPDATE"))
    ]
    assert IngestBatch.objects.order_by("-id").first().stored_count == 8


def last_seen() -> set:
    return {model.objects.get().last_seen_at for model in (Collector, Host, Device)}


def test_last_seen_is_written_once_per_resolution(db):
    start = T0 + timedelta(hours=1)
    collector, _ = make_collector()
    batch_ingest(collector=collector, payload=payload(), now=start)
    assert last_seen() == {start}

    soon = start + LAST_SEEN_RESOLUTION - timedelta(seconds=1)
    with CaptureQueriesContext(connection) as queries:
        # A fresh collector object, as the API reads one for each request.
        batch_ingest(
            collector=Collector.objects.get(),
            payload=payload([sample(ts=T0 + timedelta(seconds=2))]),
            now=soon,
        )
    assert last_seen() == {start}
    assert not [q for q in queries.captured_queries if 'SET "last_seen_at"' in q["sql"]]

    later = start + LAST_SEEN_RESOLUTION + timedelta(seconds=1)
    batch_ingest(
        collector=Collector.objects.get(),
        payload=payload([sample(ts=T0 + timedelta(seconds=3))]),
        now=later,
    )
    assert last_seen() == {later}


def test_last_seen_never_moves_back(db):
    start = T0 + timedelta(hours=1)
    collector, _ = make_collector()
    batch_ingest(collector=collector, payload=payload(), now=start)
    Collector.objects.update(last_seen_at=start + timedelta(hours=1))  # a later batch, meanwhile
    batch_ingest(
        collector=collector,  # holds the older value
        payload=payload([sample(ts=T0 + timedelta(seconds=2))]),
        now=start + 2 * LAST_SEEN_RESOLUTION,
    )
    assert Collector.objects.get().last_seen_at == start + timedelta(hours=1)


@pytest.mark.parametrize("database", ["db", "transactional_db"])
def test_a_copy_stored_meanwhile_is_a_duplicate_and_nothing_of_this_one_stays(
    request, database, monkeypatch
):
    """The batch row has no savepoint of its own: its unique-key failure rolls back the whole
    batch's transaction, the host it registered included (or, inside an outer transaction,
    the batch's savepoint, leaving the outer one usable)."""
    request.getfixturevalue(database)
    collector, _ = make_collector()
    body = payload(hostname="new-node")
    real_check = services._check_devices

    def copy_commits_meanwhile(collector_, batch, existing_qs):
        checked = real_check(collector_, batch, existing_qs)
        IngestBatch.objects.create(batch_id=batch.batch_id, collector=collector_, sample_count=1)
        return checked

    monkeypatch.setattr(services, "_check_devices", copy_commits_meanwhile)
    result = batch_ingest(collector=collector, payload=body)
    assert (result.accepted, result.duplicate) == (0, True)
    assert not Host.objects.exists()
    assert not Device.objects.exists()
    assert not RawSample.objects.exists()
    assert IngestBatch.objects.count() == 1


def test_the_staging_table_is_made_again_when_the_session_lost_it(transactional_db, on_postgres):
    if not on_postgres:
        pytest.skip("the staging table is PostgreSQL's")
    collector, _ = make_collector()
    assert batch_ingest(collector=collector, payload=payload()).accepted == 1
    with connection.cursor() as cursor:
        cursor.execute("DISCARD TEMP")
    second = payload([sample(ts=T0 + timedelta(seconds=2))])
    with pytest.raises(Exception, match="greenai_ingest_staging"):
        batch_ingest(collector=collector, payload=second)
    assert batch_ingest(collector=collector, payload=second).accepted == 1  # the agent's retry


# --- Rate limit -------------------------------------------------------------------------------

WINDOW_START = 1_800_000_000.0 - (1_800_000_000.0 % 60)


@pytest.fixture
def locmem(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": uuid.uuid4().hex,
        }
    }
    return caches["default"]


def spy(monkeypatch, backend, calls):
    def recorded(name, real):
        def called(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)

        return called

    for name in ("incr", "add", "set"):
        monkeypatch.setattr(backend, name, recorded(name, getattr(backend, name)))


def test_rate_limit_starts_the_window_then_counts_with_one_call(locmem, monkeypatch):
    calls = []
    spy(monkeypatch, locmem, calls)
    assert rate_limit_hit("k", limit=5, now=WINDOW_START + 1).count == 1
    assert calls == ["incr", "add"]
    calls.clear()
    assert rate_limit_hit("k", limit=5, now=WINDOW_START + 2).count == 2
    assert calls == ["incr"]


def test_rate_limit_counts_a_request_that_lost_the_race_to_start_the_window(locmem, monkeypatch):
    real_add = locmem.add

    def another_request_first(key, value, timeout=None, version=None):
        real_add(key, 1, timeout=timeout)  # a concurrent first request of the window
        return real_add(key, value, timeout=timeout)

    monkeypatch.setattr(locmem, "add", another_request_first)
    decision = rate_limit_hit("k", limit=1, now=WINDOW_START + 1)
    assert (decision.count, decision.allowed, decision.retry_after_s) == (2, False, 59)


def test_rate_limit_counts_from_one_when_the_counter_vanishes_meanwhile(locmem, monkeypatch):
    def missing(*args, **kwargs):
        raise ValueError("Key not found")

    monkeypatch.setattr(locmem, "incr", missing)
    monkeypatch.setattr(locmem, "add", lambda *args, **kwargs: False)
    assert rate_limit_hit("k", limit=5, now=WINDOW_START + 1).count == 1


def test_rate_limit_on_redis_counts_without_django_incr_and_expires(settings, monkeypatch):
    if not settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        pytest.skip("CACHE_URL is not Redis")
    backend = caches["default"]

    def refuse(*args, **kwargs):
        raise AssertionError("Django's incr asks EXISTS first: a second round trip")

    monkeypatch.setattr(backend, "incr", refuse)
    monkeypatch.setattr(backend, "add", refuse)
    counts = [rate_limit_hit("k", limit=2, now=WINDOW_START + 1) for _ in range(3)]
    assert [(d.count, d.allowed) for d in counts] == [(1, True), (2, True), (3, False)]
    key = backend.make_and_validate_key(f"ratelimit:k:{int(WINDOW_START // 60)}")
    assert 0 < backend._cache.get_client(key).ttl(key) <= 65
    assert backend.get(f"ratelimit:k:{int(WINDOW_START // 60)}") == 3


def test_rate_limit_lets_requests_through_when_redis_is_unreachable(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    assert rate_limit_hit("k", limit=1).allowed
    assert first_in_window("k") is True
