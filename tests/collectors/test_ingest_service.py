"""collectors.services.batch_ingest called directly (the demo seeder's way in)."""

from datetime import timedelta

import pytest
from django.db import connection, transaction

from collectors import services
from collectors.models import DirtyHour, RawSample
from collectors.services import (
    DeviceOwnedElsewhere,
    IngestResult,
    IngestValidationError,
    batch_ingest,
)
from tests.collectors.factories import T0, make_collector, payload, sample, samples_every_second


def test_batch_ingest_returns_what_it_stored(db):
    collector, _ = make_collector()
    body = payload(samples_every_second("GPU-0001", T0, 4))
    result = batch_ingest(collector=collector, payload=body)
    assert result == IngestResult(result.batch_id, accepted=4, duplicate=False, sample_count=4)
    assert str(result.batch_id) == body["batch_id"]
    assert batch_ingest(collector=collector, payload=body).duplicate is True


def test_batch_ingest_raises_with_every_detail(db):
    collector, _ = make_collector()
    with pytest.raises(IngestValidationError) as caught:
        batch_ingest(
            collector=collector,
            payload=payload([sample(power_w=9000), sample(ts=T0 + timedelta(seconds=5))]),
        )
    assert caught.value.status == 400
    assert [d["field"] for d in caught.value.details] == ["samples[0].power_w"]
    assert "samples[0].power_w: Input should be less than or equal to 5000" in str(caught.value)
    assert RawSample.objects.count() == 0


def test_batch_ingest_raises_for_a_device_of_another_collector(db):
    owner, _ = make_collector()
    batch_ingest(collector=owner, payload=payload())
    other, _ = make_collector("other")
    with pytest.raises(DeviceOwnedElsewhere) as caught:
        batch_ingest(collector=other, payload=payload(hostname="elsewhere"))
    assert caught.value.status == 403


def test_batches_inside_one_outer_transaction_are_each_stored(db):
    """The seeder may push many batches in one transaction; the staging table must not leak."""
    collector, _ = make_collector()
    with transaction.atomic():
        first = batch_ingest(
            collector=collector, payload=payload(samples_every_second("GPU-0001", T0, 3))
        )
        second = batch_ingest(
            collector=collector,
            payload=payload(samples_every_second("GPU-0001", T0 + timedelta(seconds=3), 3)),
        )
    assert (first.accepted, second.accepted) == (3, 3)
    assert RawSample.objects.count() == 6
    assert set(RawSample.objects.values_list("batch__batch_id", flat=True)) == {
        first.batch_id,
        second.batch_id,
    }


def test_postgres_writes_samples_with_copy(db, on_postgres, monkeypatch):
    if not on_postgres:
        pytest.skip("the COPY path exists on PostgreSQL only")

    def refuse(*args, **kwargs):
        raise AssertionError("the generic path must not run on PostgreSQL")

    monkeypatch.setattr(services, "_samples_insert_generic", refuse)
    copied = []
    real_insert = services._samples_insert_postgres

    def spy(rows, batch_pk, now):
        copied.append(len(rows))
        return real_insert(rows, batch_pk, now)

    monkeypatch.setattr(services, "_samples_insert_postgres", spy)
    collector, _ = make_collector()
    body = payload(samples_every_second("GPU-0001", T0 + timedelta(minutes=59), 90))
    assert batch_ingest(collector=collector, payload=body).accepted == 90
    assert copied == [90]
    assert RawSample.objects.count() == 90
    assert DirtyHour.objects.count() == 2  # 10:59:01 .. 11:00:30 spans two hours
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM greenai_ingest_staging")
        assert cursor.fetchone()[0] == 0


def test_sqlite_writes_samples_with_bulk_create(db, on_postgres, monkeypatch):
    if on_postgres:
        pytest.skip("the bulk_create path is the one for SQLite")

    def refuse(*args, **kwargs):
        raise AssertionError("COPY is PostgreSQL only")

    monkeypatch.setattr(services, "_samples_insert_postgres", refuse)
    collector, _ = make_collector()
    body = payload(samples_every_second("GPU-0001", T0 + timedelta(minutes=59), 90))
    assert batch_ingest(collector=collector, payload=body).accepted == 90
    assert RawSample.objects.count() == 90
    assert DirtyHour.objects.count() == 2


def test_empty_batch_registers_host_and_devices(db):
    collector, _ = make_collector()
    result = batch_ingest(collector=collector, payload=payload(samples=[]))
    assert (result.accepted, result.duplicate) == (0, False)
    assert collector.devices.count() == 1
