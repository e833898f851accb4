"""Celery tasks of the collectors app (thin: they call services)."""

import logging

from celery import shared_task
from django.core.cache import cache

from collectors.services import ingest_rejections_delete_old, raw_samples_delete_old

logger = logging.getLogger(__name__)

_RETENTION_LOCK = "lock:collectors.delete_old_raw_samples"


@shared_task(name="collectors.tasks.delete_old_raw_samples")
def delete_old_raw_samples() -> dict:
    """Delete raw samples past RAW_SAMPLE_RETENTION_DAYS, keeping hours not yet rolled up, and
    refusal records past INGEST_REJECTION_RETENTION_DAYS.

    A cache lock keeps two runs from overlapping; bounded batches keep each run short, and the
    next daily run continues where a capped run stopped.
    """
    if not cache.add(_RETENTION_LOCK, "1", timeout=3600):
        logger.info("Raw-sample retention already running; skipped.")
        return {"skipped": True}
    try:
        result = raw_samples_delete_old()
        rejections = ingest_rejections_delete_old()
    finally:
        cache.delete(_RETENTION_LOCK)
    logger.info(
        "Raw-sample retention: %s deleted before %s in %s batches; %s older kept (not rolled up).",
        result.deleted,
        result.cutoff.isoformat(),
        result.batches,
        result.remaining_old,
    )
    logger.info("Ingest rejection records deleted: %s.", rejections)
    return {
        "deleted": result.deleted,
        "rejections_deleted": rejections,
        "batches": result.batches,
        "cutoff": result.cutoff.isoformat(),
        "remaining_old": result.remaining_old,
    }
