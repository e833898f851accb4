"""Reads of the collectors app."""

from collectors.selectors import collectors_with_counts, recent_rejections
from tests.collectors.factories import make_collector, payload, post_batch, sample


def test_recent_rejections_lists_the_newest_first(db, client):
    collector, token = make_collector("x")
    post_batch(client, token, payload([sample(power_w="1")]))
    post_batch(client, "gac_00000000_nope", payload())
    assert [r.status for r in recent_rejections()] == [401, 400]
    assert [r.status for r in recent_rejections(collector=collector)] == [400]


def test_collectors_with_counts_counts_hosts_and_devices(db, client):
    collector, token = make_collector("x")
    make_collector("idle")
    post_batch(client, token, payload())
    counts = {c.name: (c.host_count, c.device_count) for c in collectors_with_counts()}
    assert counts == {"x": (1, 1), "idle": (0, 0)}
