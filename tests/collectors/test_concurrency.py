"""Two copies of one batch arriving at once (real threads, real transactions)."""

import threading
import time
from datetime import timedelta

from django.db import connections

from collectors import services
from collectors.models import Device, Host, IngestBatch, RawSample
from collectors.services import HostOwnedElsewhere, IngestResult, batch_ingest
from tests.collectors.factories import (
    T0,
    device,
    make_collector,
    payload,
    sample,
    samples_every_second,
)


def run_together(calls):
    """Run the calls in threads started at once; return their results in order."""
    results = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(position, call):
        try:
            barrier.wait()
            results[position] = call()
        except Exception as exc:  # surfaced by the test's assertions
            results[position] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def slow_devices_upsert(monkeypatch):
    """Hold each transaction open after its batch row is written, so the copies overlap."""
    real = services._devices_upsert

    def slow(*args, **kwargs):
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_devices_upsert", slow)


def test_two_concurrent_copies_of_a_batch_are_stored_once(transactional_db, monkeypatch):
    collector, _ = make_collector()
    body = payload(samples_every_second("GPU-0001", T0, 50))
    slow_devices_upsert(monkeypatch)
    results = run_together([lambda: batch_ingest(collector=collector, payload=body)] * 2)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted((r.accepted, r.duplicate) for r in results) == [(0, True), (50, False)]
    assert IngestBatch.objects.count() == 1
    assert RawSample.objects.count() == 50


def test_concurrent_batches_with_overlapping_samples_store_each_sample_once(
    transactional_db, monkeypatch
):
    collector, _ = make_collector()
    batch_ingest(collector=collector, payload=payload(samples=[]))  # device registered
    first = payload(samples_every_second("GPU-0001", T0, 40), devices=[])
    second = payload(samples_every_second("GPU-0001", T0 + timedelta(seconds=20), 40), devices=[])
    slow_devices_upsert(monkeypatch)
    results = run_together(
        [
            lambda: batch_ingest(collector=collector, payload=first),
            lambda: batch_ingest(collector=collector, payload=second),
        ]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.accepted for r in results) == 60
    assert RawSample.objects.count() == 60
    assert IngestBatch.objects.count() == 3


def test_two_collectors_registering_one_new_host_at_once_the_second_is_refused(
    transactional_db, monkeypatch
):
    first, _ = make_collector("first")
    second, _ = make_collector("second")

    def batch(gpu):
        return payload([sample(gpu)], devices=[device(gpu)], hostname="new-node")

    slow_devices_upsert(monkeypatch)
    results = run_together(
        [
            lambda: batch_ingest(collector=first, payload=batch("GPU-A")),
            lambda: batch_ingest(collector=second, payload=batch("GPU-B")),
        ]
    )
    stored = [position for position, r in enumerate(results) if isinstance(r, IngestResult)]
    refused = [r for r in results if isinstance(r, HostOwnedElsewhere)]
    assert (len(stored), len(refused)) == (1, 1), results
    winner = (first, second)[stored[0]]
    assert Host.objects.get().collector == winner
    assert list(Device.objects.values_list("uuid", flat=True)) == [("GPU-A", "GPU-B")[stored[0]]]
    assert (IngestBatch.objects.count(), RawSample.objects.count()) == (1, 1)
