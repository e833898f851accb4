"""Prometheus metrics of the app and the GET /metrics view.

Ingest counters live in prometheus_client's default registry; other areas register theirs there
too. Under gunicorn each worker process counts on its own, and a scrape reaches one worker: by
default the counters are per worker (Prometheus' rate() still works per scrape target, but the
totals jump between workers). Setting PROMETHEUS_MULTIPROC_DIR (an empty directory, before the
workers start) switches to prometheus_client's multiprocess mode, where the view sums the
workers' files. Figures read from the database at scrape time (collectors, the rollup's lag and
the figures each rollup shard stored after its last run) are the same whichever worker answers.
"""

import logging
import os

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Q
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from collectors.models import Collector

logger = logging.getLogger(__name__)

INGEST_REQUESTS = Counter(
    "greenai_ingest_requests", "Ingest requests answered, by HTTP status.", ["status"]
)
INGEST_SAMPLES_RECEIVED = Counter(
    "greenai_ingest_samples_received", "Samples in batches that passed validation."
)
INGEST_SAMPLES_ACCEPTED = Counter(
    "greenai_ingest_samples_accepted", "Samples stored (re-sent samples excluded)."
)
INGEST_DUPLICATE_BATCHES = Counter(
    "greenai_ingest_duplicate_batches", "Batches already stored, answered 200 duplicate."
)
INGEST_REJECTIONS = Counter(
    "greenai_ingest_rejections", "Refused ingest requests, by reason.", ["reason"]
)
INGEST_BATCH_SAMPLES = Histogram(
    "greenai_ingest_batch_samples",
    "Samples per valid batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000),
)
INGEST_LATENCY = Histogram(
    "greenai_ingest_latency_seconds",
    "Time to answer an ingest request, in seconds.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


_ROLLUP_GAUGES = {
    "greenai_rollup_lag_seconds": (
        "lag_seconds",
        "Age of the oldest mark the rollup has not processed yet (0: none waiting).",
    ),
    "greenai_rollup_pending_marks": ("pending_marks", "Marks waiting for the rollup."),
}
_ROLLUP_SHARD_GAUGES = {
    "greenai_rollup_last_duration_seconds": ("last_seconds", "Duration of the shard's last run."),
    "greenai_rollup_last_rows": ("last_rows", "Raw samples the shard's last run read."),
    "greenai_rollup_last_hours": ("last_hours", "Device-hours the shard's last run wrote."),
    "greenai_rollup_last_marks": ("last_marks", "Marks the shard's last run processed."),
    "greenai_rollup_last_run_timestamp_seconds": (
        "last_finished_at",
        "When the shard's last run finished (Unix time).",
    ),
}


class DatabaseFigures:
    """Gauges read from the database at scrape time."""

    def describe(self):
        # Names for the registry's duplicate check, so that registering queries nothing.
        return [
            GaugeMetricFamily("greenai_collectors", "", labels=["state"]),
            GaugeMetricFamily(
                "greenai_collector_last_seen_timestamp_seconds", "", labels=["collector"]
            ),
            GaugeMetricFamily("greenai_dirty_hours", ""),
            *(GaugeMetricFamily(name, "") for name in _ROLLUP_GAUGES),
            *(GaugeMetricFamily(name, "", labels=["shard"]) for name in _ROLLUP_SHARD_GAUGES),
        ]

    def collect(self):
        try:
            counts = Collector.objects.aggregate(
                active=Count("id", filter=Q(revoked_at__isnull=True)),
                revoked=Count("id", filter=Q(revoked_at__isnull=False)),
            )
            last_seen = list(
                Collector.objects.filter(revoked_at__isnull=True, last_seen_at__isnull=False)
                .values_list("name", "last_seen_at")
                .order_by("name")
            )
            from assessments.footprint.selectors import rollup_status

            rollup = rollup_status()
        except DatabaseError:
            logger.exception("Database figures left out of /metrics.")
            return
        collectors = GaugeMetricFamily(
            "greenai_collectors", "Registered collectors, by state.", labels=["state"]
        )
        collectors.add_metric(["active"], counts["active"])
        collectors.add_metric(["revoked"], counts["revoked"])
        yield collectors
        seen = GaugeMetricFamily(
            "greenai_collector_last_seen_timestamp_seconds",
            "When an active collector last delivered a batch (Unix time).",
            labels=["collector"],
        )
        for name, moment in last_seen:
            seen.add_metric([name], moment.timestamp())
        yield seen
        yield GaugeMetricFamily(
            "greenai_dirty_hours",
            "Device-hours with new samples waiting for the rollup.",
            value=rollup["dirty_hours"],
        )
        for name, (key, text) in _ROLLUP_GAUGES.items():
            yield GaugeMetricFamily(name, text, value=rollup[key])
        for name, (key, text) in _ROLLUP_SHARD_GAUGES.items():
            family = GaugeMetricFamily(name, text, labels=["shard"])
            for shard in rollup["shards"]:
                value = shard[key]
                if key == "last_finished_at":
                    if value is None:
                        continue
                    value = value.timestamp()
                family.add_metric([str(shard["shard"])], value)
            yield family


_DATABASE_FIGURES = DatabaseFigures()
REGISTRY.register(_DATABASE_FIGURES)


def _registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(_DATABASE_FIGURES)
        return registry
    return REGISTRY


@require_GET
def metrics_view(request):
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


@require_GET
def health_view(request):
    """GET /health: JSON for load balancers and people. 503 only when the database does not
    answer; a lagging rollup is reported (status "lagging") but does not take a web node out."""
    from assessments.footprint.selectors import rollup_status

    try:
        rollup = rollup_status()
    except DatabaseError as exc:
        logger.exception("Health check: database unavailable.")
        return JsonResponse({"status": "down", "database": str(exc)[:200]}, status=503)
    lagging = rollup["lag_seconds"] > settings.ROLLUP_LAG_WARN_SECONDS
    return JsonResponse(
        {
            "status": "lagging" if lagging else "ok",
            "database": "ok",
            "rollup": {
                **{key: value for key, value in rollup.items() if key != "shards"},
                "lag_warn_seconds": settings.ROLLUP_LAG_WARN_SECONDS,
                "shards": rollup["shards"],
            },
        }
    )
