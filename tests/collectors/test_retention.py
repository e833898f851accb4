"""collectors.tasks.delete_old_raw_samples: old raw samples go, un-rolled hours stay.

SQLite deletes old rows in bounded batches; PostgreSQL drops whole day partitions (and deletes
in batches only what sits in its DEFAULT partition).
"""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from collectors import partitions
from collectors.models import DirtyHour, RawSample
from collectors.services import ingest_batch, raw_samples_delete_old
from collectors.tasks import delete_old_raw_samples
from tests.collectors.factories import make_collector, payload, samples_every_second


def store(collector, start, count):
    ingest_batch(
        collector=collector, payload=payload(samples_every_second("GPU-0001", start, count))
    )


def hour_ago(days: int, hour: int = 0):
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    return now - timedelta(days=days, hours=hour)


@pytest.fixture(autouse=True)
def _fresh_partition_memory():
    # Each test's partitions vanish with its transaction: forget them between tests.
    partitions.forget_known_days()
    yield
    partitions.forget_known_days()


sqlite_only = pytest.mark.skipif(
    django_settings.DATABASE_IS_POSTGRES,
    reason="row-by-row retention: PostgreSQL drops day partitions (tests below)",
)


@sqlite_only
def test_old_samples_are_deleted_and_recent_ones_kept(db, settings):
    settings.RAW_SAMPLE_RETENTION_DAYS = 30
    collector, _ = make_collector()
    store(collector, hour_ago(40), 10)
    store(collector, hour_ago(2), 10)
    DirtyHour.objects.all().delete()  # everything rolled up
    result = delete_old_raw_samples.apply().get()
    assert result["deleted"] == 10
    assert RawSample.objects.count() == 10
    assert RawSample.objects.order_by("ts").first().ts > hour_ago(3)


@sqlite_only
def test_samples_of_hours_not_yet_rolled_up_are_kept(db, settings):
    settings.RAW_SAMPLE_RETENTION_DAYS = 30
    collector, _ = make_collector()
    store(collector, hour_ago(40), 10)  # rolled up
    store(collector, hour_ago(50), 10)  # still dirty
    rolled_hour = hour_ago(40)
    DirtyHour.objects.filter(hour=rolled_hour).delete()
    result = raw_samples_delete_old()
    assert (result.deleted, result.remaining_old) == (10, 10)
    assert set(RawSample.objects.values_list("ts__date", flat=True)) == {hour_ago(50).date()}


@sqlite_only
def test_sample_straddling_into_a_dirty_hour_is_kept(db):
    collector, _ = make_collector()
    hour = hour_ago(60)
    # Ends one second into `hour` after 30 s: touches the hour before and `hour`.
    ingest_batch(
        collector=collector,
        payload=payload(samples_every_second("GPU-0001", hour, 1, duration_s=30.0)),
    )
    assert DirtyHour.objects.count() == 2
    DirtyHour.objects.filter(hour__lt=hour).delete()  # only the later hour still dirty
    assert raw_samples_delete_old(retention_days=30).deleted == 0
    DirtyHour.objects.all().delete()
    assert raw_samples_delete_old(retention_days=30).deleted == 1


def test_sample_whose_earlier_hour_is_dirty_is_kept(db):
    collector, _ = make_collector()
    hour = hour_ago(60)
    ingest_batch(
        collector=collector,
        payload=payload(samples_every_second("GPU-0001", hour, 1, duration_s=30.0)),
    )
    DirtyHour.objects.filter(hour=hour).delete()  # only the earlier hour still dirty
    assert raw_samples_delete_old(retention_days=30).deleted == 0


@sqlite_only
def test_deletion_runs_in_bounded_batches(db):
    collector, _ = make_collector()
    store(collector, hour_ago(40), 25)
    DirtyHour.objects.all().delete()
    result = raw_samples_delete_old(retention_days=30, batch_size=10, max_batches=2)
    assert (result.deleted, result.batches, result.remaining_old) == (20, 2, 5)
    assert raw_samples_delete_old(retention_days=30, batch_size=10).deleted == 5


def test_overlapping_runs_are_skipped(db):
    from django.core.cache import cache

    from collectors.tasks import _RETENTION_LOCK

    cache.add(_RETENTION_LOCK, "1", timeout=60)
    assert delete_old_raw_samples.apply().get() == {"skipped": True}


# --- PostgreSQL: day partitions ---------------------------------------------------------------

postgres_only = pytest.mark.skipif(
    not django_settings.DATABASE_IS_POSTGRES,
    reason="partitions are PostgreSQL's; SQLite keeps one table",
)


def partition_of(sample) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM collectors_rawsample WHERE id = %s", [sample.pk]
        )
        return cursor.fetchone()[0]


@postgres_only
def test_raw_samples_are_partitioned_by_day_and_partitions_are_made_ahead(db, settings):
    from collectors.tasks import create_raw_sample_partitions

    assert partitions.is_partitioned()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'collectors_rawsample'::regclass AND contype = 'p'"
        )
        assert cursor.fetchone()[0] == "PRIMARY KEY (id, ts)"
    create_raw_sample_partitions.apply().get()
    today = timezone.now().date()
    days = partitions.day_partitions()
    for n in range(settings.RAW_SAMPLE_PARTITIONS_AHEAD_DAYS + 1):
        assert today + timedelta(days=n) in days
    collector, _ = make_collector()
    store(collector, hour_ago(0, 3), 5)
    assert partition_of(RawSample.objects.first()) == partitions.partition_name(
        RawSample.objects.first().ts.date()
    )


@postgres_only
def test_a_day_past_retention_is_dropped_whole_and_a_day_with_a_pending_mark_is_kept(db, settings):
    settings.RAW_SAMPLE_RETENTION_DAYS = 30
    collector, _ = make_collector()
    rolled, dirty = hour_ago(40, -3), hour_ago(50, -3)
    store(collector, rolled, 10)
    store(collector, dirty, 10)
    store(collector, hour_ago(2), 10)
    DirtyHour.objects.filter(hour__gte=rolled - timedelta(hours=3)).delete()  # rolled up
    result = delete_old_raw_samples.apply().get()
    assert rolled.date().isoformat() in result["dropped_days"]
    assert result["kept_days"] == [dirty.date().isoformat()]
    assert result["deleted"] == 0  # no row deleted one by one
    assert rolled.date() not in partitions.day_partitions()
    assert set(RawSample.objects.values_list("ts__date", flat=True)) == {
        dirty.date(),
        hour_ago(2).date(),
    }
    DirtyHour.objects.all().delete()  # the dirty day is rolled up: next run drops it
    assert raw_samples_delete_old().dropped_days == [dirty.date()]
    assert RawSample.objects.count() == 10


@postgres_only
def test_ingest_makes_a_missing_days_partition_and_moves_that_days_strays_from_the_default(db):
    from tests.assessments.footprint.rollup_factories import add_samples

    collector, _ = make_collector()
    day = hour_ago(400)
    store(collector, day, 1)
    device = RawSample.objects.get().device
    with connection.cursor() as cursor:  # as if that day's partition had never been made
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"DROP TABLE {partitions.partition_name(day.date())}")
    partitions.forget_known_days()
    (stray,) = add_samples(device, end=day + timedelta(minutes=30), energy_j=5.0)  # direct insert
    assert partition_of(stray) == partitions.DEFAULT_PARTITION
    store(collector, day + timedelta(minutes=10), 2)  # ingest of that day: partition made
    assert partition_of(stray) == partitions.partition_name(day.date())
    assert RawSample.objects.filter(ts__date=day.date()).count() == 3


@postgres_only
def test_old_rows_in_the_default_partition_are_deleted_in_batches(db):
    from tests.assessments.footprint.rollup_factories import add_samples

    collector, _ = make_collector()
    store(collector, hour_ago(2), 1)
    device = RawSample.objects.get().device
    partitions.forget_known_days()
    # A day far in the past without a partition: its rows sit in the DEFAULT partition.
    rows = add_samples(device, end=hour_ago(900), count=25, every_s=1.0, power_w=100.0)
    assert partition_of(rows[0]) == partitions.DEFAULT_PARTITION
    DirtyHour.objects.all().delete()
    result = raw_samples_delete_old(retention_days=30, batch_size=10, max_batches=2)
    assert (result.deleted, result.batches, result.remaining_old) == (20, 2, 5)
    assert raw_samples_delete_old(retention_days=30, batch_size=10).deleted == 5
    assert RawSample.objects.count() == 1
