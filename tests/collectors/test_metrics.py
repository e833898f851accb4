"""GET /metrics: Prometheus text with the ingest figures."""

from prometheus_client.parser import text_string_to_metric_families

from tests.collectors.factories import (
    T0,
    make_collector,
    payload,
    post_batch,
    sample,
    samples_every_second,
)


def scrape(client) -> dict[tuple, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return values


def test_metrics_count_ingest_requests_samples_and_refusals(db, client):
    collector, token = make_collector()
    before = scrape(client)
    post_batch(client, token, payload(samples_every_second("GPU-0001", T0, 2)))
    post_batch(client, token, payload([sample(power_w=-1)]))
    post_batch(client, "gac_00000000_nope", payload())
    after = scrape(client)

    def grew(name, labels=()):
        key = (name, tuple(sorted(labels)))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("greenai_ingest_requests_total", [("status", "202")]) == 1
    assert grew("greenai_ingest_requests_total", [("status", "400")]) == 1
    assert grew("greenai_ingest_requests_total", [("status", "401")]) == 1
    assert grew("greenai_ingest_samples_accepted_total") == 2
    assert grew("greenai_ingest_rejections_total", [("reason", "invalid")]) == 1
    assert grew("greenai_ingest_rejections_total", [("reason", "unauthorized")]) == 1
    assert grew("greenai_ingest_batch_samples_count") == 1
    assert grew("greenai_ingest_batch_samples_sum") == 2
    assert grew("greenai_ingest_latency_seconds_count") == 3
    assert after[("greenai_collectors", (("state", "active"),))] == 1
    assert after[("greenai_dirty_hours", ())] == 1
    seen = after[("greenai_collector_last_seen_timestamp_seconds", (("collector", "cluster-a"),))]
    collector.refresh_from_db()
    assert seen == collector.last_seen_at.timestamp()


def test_metrics_and_health_show_the_rollup_lag_and_its_last_runs(db, client):
    from datetime import timedelta

    from django.utils import timezone

    from assessments.footprint.rollup import rollup_dirty_hours, shard_count
    from collectors.models import Device, DirtyHour

    collector, token = make_collector()
    post_batch(client, token, payload(samples_every_second("GPU-0001", T0, 30)))
    # The mark has waited ten minutes: that is the lag, whatever the batch's age.
    DirtyHour.objects.update(marked_at=timezone.now() - timedelta(minutes=10))
    values = scrape(client)
    assert values[("greenai_rollup_pending_marks", ())] == 1
    assert 599 <= values[("greenai_rollup_lag_seconds", ())] < 660
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "lagging"
    assert health.json()["rollup"]["pending_marks"] == 1

    rollup_dirty_hours()
    values = scrape(client)
    shard = str(Device.objects.get().pk % shard_count())
    assert values[("greenai_rollup_lag_seconds", ())] == 0
    assert values[("greenai_dirty_hours", ())] == 0
    assert values[("greenai_rollup_last_rows", (("shard", shard),))] == 30
    assert values[("greenai_rollup_last_hours", (("shard", shard),))] == 1
    assert values[("greenai_rollup_last_duration_seconds", (("shard", shard),))] > 0
    assert ("greenai_rollup_last_run_timestamp_seconds", (("shard", shard),)) in values
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["rollup"]["shards"][int(shard)]["last_rows"] == 30


def test_health_answers_503_when_the_database_does_not(db, client, monkeypatch):
    from django.db import OperationalError

    from assessments.footprint import selectors

    def unreachable():
        raise OperationalError("connection refused")

    monkeypatch.setattr(selectors, "rollup_status", unreachable)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "down"
