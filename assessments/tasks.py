"""Celery tasks of the assessments app: thin wrappers around services, safe to repeat."""

import logging

from celery import shared_task

from assessments.footprint.rollup import DEFAULT_BATCH_SIZE
from assessments.footprint.rollup import rollup_dirty_hours as rollup_service
from assessments.footprint.rollup_lock import exclusive_rollup

logger = logging.getLogger(__name__)


@shared_task(name="assessments.tasks.rollup_dirty_hours", ignore_result=True)
def rollup_dirty_hours(
    batch_size: int = DEFAULT_BATCH_SIZE, max_batches: int = 50, exclusive: bool = True
):
    """Recompute dirty hours in bounded batches (beat runs it every minute).

    `exclusive` takes the rollup lock, so a run still busy when the next is due makes that one
    skip. Runs without it are still safe (each batch claims its rows with SKIP LOCKED): that is
    how extra workers help with a backlog.
    """
    if not exclusive:
        return _run(batch_size, max_batches)
    with exclusive_rollup() as acquired:
        if not acquired:
            logger.info("rollup already running elsewhere; skipped")
            return {"skipped": True}
        return _run(batch_size, max_batches)


def _run(batch_size: int, max_batches: int) -> dict:
    result = rollup_service(batch_size=batch_size, max_batches=max_batches)
    logger.info(
        "rollup: %d hours in %d batches, %d device facts, %d project facts, %d failed, %.2f s",
        result.hours,
        result.batches,
        result.device_facts,
        result.project_facts,
        result.failed,
        result.seconds,
    )
    return {
        "skipped": False,
        "hours": result.hours,
        "batches": result.batches,
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
