"""Celery tasks of the collectors app (thin: they call services)."""

import logging

from celery import shared_task
from django.core.cache import cache

from collectors import partitions
from collectors.services import raw_samples_delete_old

logger = logging.getLogger(__name__)

_RETENTION_LOCK = "lock:collectors.delete_old_raw_samples"


@shared_task(name="collectors.tasks.delete_old_raw_samples")
def delete_old_raw_samples() -> dict:
    """Remove raw samples past RAW_SAMPLE_RETENTION_DAYS, keeping hours not yet rolled up.

    PostgreSQL drops whole day partitions (constant time); SQLite deletes in bounded batches,
    the next daily run continuing where a capped run stopped. A cache lock keeps two runs from
    overlapping.
    """
    if not cache.add(_RETENTION_LOCK, "1", timeout=3600):
        logger.info("Raw-sample retention already running; skipped.")
        return {"skipped": True}
    try:
        result = raw_samples_delete_old()
    finally:
        cache.delete(_RETENTION_LOCK)
    logger.info(
        "Raw-sample retention before %s: %s day partitions dropped (about %s rows), %s rows "
        "deleted in %s batches; %s older kept (not rolled up; days kept: %s).",
        result.cutoff.isoformat(),
        len(result.dropped_days),
        result.dropped_rows_estimate,
        result.deleted,
        result.batches,
        result.remaining_old,
        ", ".join(day.isoformat() for day in result.kept_days) or "none",
    )
    return {
        "deleted": result.deleted,
        "batches": result.batches,
        "cutoff": result.cutoff.isoformat(),
        "remaining_old": result.remaining_old,
        "dropped_days": [day.isoformat() for day in result.dropped_days],
        "kept_days": [day.isoformat() for day in result.kept_days],
    }


@shared_task(name="collectors.tasks.create_raw_sample_partitions")
def create_raw_sample_partitions() -> dict:
    """PostgreSQL: create the raw-sample partitions of today and the next
    RAW_SAMPLE_PARTITIONS_AHEAD_DAYS days (daily; ingest also creates a missing day on demand)."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    today = timezone.now().date()
    created = partitions.ensure_partitions_between(
        today, today + timedelta(days=settings.RAW_SAMPLE_PARTITIONS_AHEAD_DAYS)
    )
    logger.info("Raw-sample partitions created: %s", [day.isoformat() for day in created])
    return {"created": [day.isoformat() for day in created]}
