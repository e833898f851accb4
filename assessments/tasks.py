"""Celery tasks of the assessments app: thin wrappers around services, safe to repeat."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from assessments.footprint import rollup
from assessments.models import AlertNotification
from assessments.watch import notify
from assessments.watch.services import FAST_ALERT_KINDS, alerts_evaluate

logger = logging.getLogger(__name__)


@shared_task(name="assessments.tasks.rollup_dirty_hours", ignore_result=True)
def rollup_dirty_hours(batch_size: int = rollup.DEFAULT_BATCH_SIZE, max_batches: int = 50):
    """Fan the rollup out (beat runs it every ROLLUP_EVERY_SECONDS): one rollup_shard task per
    shard with marks, each bounded to the marks made before now, so every worker takes a share
    and no run chases the marks ingest keeps adding. It never waits and never skips a tick; a
    shard still busy from the last tick is skipped by its new task and picked up by the next.
    """
    up_to = rollup.last_mark_id()
    shards = rollup.pending_shards(up_to)
    for shard in shards:
        rollup_shard.apply_async(
            kwargs={
                "shard": shard,
                "up_to": up_to,
                "batch_size": batch_size,
                "max_batches": max_batches,
            }
        )
    logger.info("rollup fan-out: %d shards up to mark %d", len(shards), up_to)
    from assessments.footprint.in_service import in_service_refresh

    rebuilt = in_service_refresh()
    if rebuilt:
        logger.info("in-service rows rebuilt for %s hosts", "all" if rebuilt < 0 else rebuilt)
    return {"shards": shards, "up_to": up_to}


@shared_task(name="assessments.tasks.rollup_shard", ignore_result=True)
def rollup_shard(
    shard: int,
    up_to: int | None = None,
    batch_size: int = rollup.DEFAULT_BATCH_SIZE,
    max_batches: int = 50,
):
    """Roll up one shard's marks up to mark `up_to` (safe to repeat or to run twice at once)."""
    result = rollup.rollup_shard(shard, up_to=up_to, batch_size=batch_size, max_batches=max_batches)
    logger.info(
        "rollup shard %d: %d hours (%d incremental) from %d marks, %d rows, in %d batches, "
        "%d failed, %.2f s%s",
        shard,
        result.hours,
        result.incremental,
        result.marks,
        result.rows,
        result.batches,
        result.failed,
        result.seconds,
        "; busy elsewhere, skipped" if result.skipped_shards else "",
    )
    if result.hours:
        evaluate_fast_alerts_soon()
    return {
        "shard": shard,
        "skipped": bool(result.skipped_shards),
        "hours": result.hours,
        "marks": result.marks,
        "rows": result.rows,
        "failed": result.failed,
    }


@shared_task(name="assessments.tasks.generate_monthly_reports", ignore_result=True)
def generate_monthly_reports(today: str | None = None, email: bool = True):
    """Last month's report for the organisation and one per team (beat: day 1 of each month).

    `today` (YYYY-MM-DD) stands in for the current date, to (re)make a past month's reports.
    Regenerating replaces the stored reports of that month, so a repeated run is harmless.
    """
    from datetime import date

    from assessments.reports.services import monthly_reports_generate

    reports = monthly_reports_generate(
        today=date.fromisoformat(today) if today else None, email=email
    )
    logger.info("monthly reports: %d generated", len(reports))
    return {"reports": [report.pk for report in reports]}


@shared_task(name="assessments.tasks.refresh_recommendations", ignore_result=True)
def refresh_recommendations(now: str | None = None):
    """Daily: recompute recommendations over the last 30 days and verify finished optimisations.

    `now` (ISO 8601) stands in for the current time. The refresh upserts by fingerprint under a
    lock, so a repeated or overlapping run is harmless.
    """
    from datetime import UTC, datetime

    from assessments.decisions.services import optimisations_verify, recommendations_refresh

    moment = datetime.fromisoformat(now) if now else None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the product's times are UTC
    verified = optimisations_verify(now=moment)
    summary = recommendations_refresh(now=moment)
    logger.info("recommendations: %s; %d optimisations verified", summary, verified)
    return {
        "created": summary.created,
        "updated": summary.updated,
        "reopened": summary.reopened,
        "removed": summary.removed,
        "verified": verified,
    }


# --- Alerts (docs/watch.md) --------------------------------------------------------------------


@shared_task(name="assessments.tasks.evaluate_alerts", ignore_result=True)
def evaluate_alerts(kinds: list[str] | None = None):
    """Evaluate the alert rules (every kind, or `kinds`) and queue their notifications."""
    changes = alerts_evaluate(kinds=kinds)
    notify.notifications_queue(changes)
    logger.info("alerts evaluated: %d changed", len(changes))
    return {"changed": len(changes)}


def evaluate_fast_alerts_soon() -> bool:
    """After a rollup wrote facts: evaluate the fast kinds, at most once a minute however many
    shards finish (the cache key is the gate every worker shares)."""
    if not cache.add("alerts:fast-after-rollup", 1, timeout=60):
        return False
    evaluate_alerts.apply_async(kwargs={"kinds": list(FAST_ALERT_KINDS)})
    return True


@shared_task(bind=True, name="assessments.tasks.deliver_alert_notification", ignore_result=True)
def deliver_alert_notification(self, notification_id: int):
    """Send one alert notification; 5xx answers, time-outs and network errors are retried with
    exponential back-off up to ALERT_NOTIFY_MAX_RETRIES times, 4xx and refused URLs are not."""
    notice = (
        AlertNotification.objects.select_related(
            "episode__rule__team", "episode__rule__project", "channel"
        )
        .filter(pk=notification_id)
        .first()
    )
    if notice is None:
        return
    try:
        notify.notification_deliver(notice)
    except notify.DeliveryFailed as exc:
        if exc.retry and self.request.retries < settings.ALERT_NOTIFY_MAX_RETRIES:
            raise self.retry(countdown=min(30 * 2**self.request.retries, 3600)) from None
        notify.notification_give_up(notice)
