"""Prometheus metrics of the app and the GET /metrics view.

Ingest counters live in prometheus_client's default registry; other areas register theirs there
too. Under gunicorn each worker process counts on its own, and a scrape reaches one worker: by
default the counters are per worker (Prometheus' rate() still works per scrape target, but the
totals jump between workers). Setting PROMETHEUS_MULTIPROC_DIR (an empty directory, before the
workers start) switches to prometheus_client's multiprocess mode, where the view sums the
workers' files. Figures read from the database at scrape time (collectors, rollup backlog) are
the same whichever worker answers.
"""

import hmac
import logging
import os

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Q
from django.http import HttpResponse
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

from collectors.models import Collector, DirtyHour
from greenai_site.tokens import bearer_token

logger = logging.getLogger(__name__)

INGEST_REQUESTS = Counter(
    "greenai_ingest_requests",
    "Ingest requests answered, by HTTP status (5xx included).",
    ["status"],
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
INGEST_REJECTIONS_NOT_RECORDED = Counter(
    "greenai_ingest_rejections_not_recorded",
    "Refused ingest requests not stored as a rejection record: a repeat, within the minute, of"
    " one already stored for the same collector (or address), status and reason.",
    ["reason"],
)
INGEST_FOREIGN_TAGS = Counter(
    "greenai_ingest_foreign_tags",
    "Process tags naming a project of another team than the collector's, stored without the"
    " tag (not charged to that project).",
    ["collector"],
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
            dirty = DirtyHour.objects.count()
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
            value=dirty,
        )


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
    expected = settings.METRICS_TOKEN
    if expected:
        # Compared in constant time, so the answer's timing tells nothing of the token.
        sent = bearer_token(request) or ""
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            response = HttpResponse(
                "Send 'Authorization: Bearer <METRICS_TOKEN>'.\n",
                status=401,
                content_type="text/plain; charset=utf-8",
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
