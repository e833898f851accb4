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
