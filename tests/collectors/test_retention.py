"""collectors.tasks.delete_old_raw_samples: old raw samples go, un-rolled hours stay."""

from datetime import timedelta

from django.utils import timezone

from collectors.models import DirtyHour, RawSample
from collectors.services import batch_ingest, raw_samples_delete_old
from collectors.tasks import delete_old_raw_samples
from tests.collectors.factories import make_collector, payload, samples_every_second


def store(collector, start, count):
    batch_ingest(
        collector=collector, payload=payload(samples_every_second("GPU-0001", start, count))
    )


def hour_ago(days: int, hour: int = 0):
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    return now - timedelta(days=days, hours=hour)


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


def test_sample_straddling_into_a_dirty_hour_is_kept(db):
    collector, _ = make_collector()
    hour = hour_ago(60)
    # Ends one second into `hour` after 30 s: touches the hour before and `hour`.
    batch_ingest(
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
    batch_ingest(
        collector=collector,
        payload=payload(samples_every_second("GPU-0001", hour, 1, duration_s=30.0)),
    )
    DirtyHour.objects.filter(hour=hour).delete()  # only the earlier hour still dirty
    assert raw_samples_delete_old(retention_days=30).deleted == 0


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
