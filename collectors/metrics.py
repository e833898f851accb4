"""Prometheus metrics of the app and the GET /metrics view (docs/metrics.md).

Ingest counters live in prometheus_client's default registry; other areas register theirs there
too. Under gunicorn each worker process counts on its own, and a scrape reaches one worker, so
the deployments set PROMETHEUS_MULTIPROC_DIR (emptied before the workers start by
greenai_site/gunicorn_conf.py): every worker then writes its counts to files there and the view
sums all the workers' files (prometheus_client's multiprocess mode). Without it (tests, one
process) the default registry answers. Figures read from the database at scrape time
(collectors, the rollup's lag and each shard's last run) and the footprint gauges are computed
for each scrape into a fresh registry, never kept in a process, so they are the same whichever
worker answers.

The footprint gauges (energy, carbon and cost per team, project and site) are not public: they
are exposed only when METRICS_TOKEN is set, and /metrics then requires it.
"""

import hmac
import logging
import os
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from django.db.models import Count, Q
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
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
from greenai_site.tokens import bearer_token

logger = logging.getLogger(__name__)

_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _MULTIPROC_DIR:
    # Processes other than gunicorn's workers (manage.py, Celery) may share the web's
    # environment: the metrics below write their files at import, so the directory must exist.
    os.makedirs(_MULTIPROC_DIR, exist_ok=True)

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


# --- Footprint gauges -------------------------------------------------------------------------

# Seconds a computed set of footprint figures is served from the cache: a scrape then costs a
# cache read whatever the fleet, and the figures trail the rollup by at most this much.
FOOTPRINT_CACHE_SECONDS = 60
_FOOTPRINT_CACHE_KEY = "greenai:metrics:footprint:{day}"

# name -> (ScopeTotals field, help); energy has two names because IT and facility energy are
# not to be summed (the read API's facility_energy_kwh and energy_kwh).
FOOTPRINT_GAUGES = {
    "greenai_footprint_energy_kwh": (
        "energy_facility_kwh",
        "Facility energy (IT energy x PUE), kWh, over the window: the read API's"
        " facility_energy_kwh.",
    ),
    "greenai_footprint_energy_it_kwh": (
        "energy_it_kwh",
        "IT energy (GPUs and CPU packages), kWh, over the window: the read API's energy_kwh.",
    ),
    "greenai_footprint_carbon_kgco2e": (
        "carbon_kgco2e",
        "Operational and embodied carbon, kgCO2e, over the window: the read API's total_kgco2e.",
    ),
    "greenai_footprint_cost": (
        "cost",
        "Electricity cost over the window, in the organisation's currency (label currency).",
    ),
}
FOOTPRINT_WINDOWS = ("today", "month")
BUDGET_GAUGES = {
    "greenai_budget_used_ratio": (
        "used",
        "Share of the budget used so far in its current period (1 = the limit): the budgets"
        " API's used / limit.",
    ),
    "greenai_budget_forecast_ratio": (
        "forecast",
        "The budget's forecast for the end of its period as a share of the limit: the budgets"
        " API's forecast.value / limit.",
    ),
}


def budget_standings() -> list[tuple]:
    """(scope, metric, period, used / limit, forecast / limit) of every budget now: the one
    read of budget use the gauges show, through the budgets' own selector."""
    from assessments.watch.selectors import budget_list, budget_view

    rows = []
    for budget in budget_list():
        view = budget_view(budget)
        limit = budget.limit
        rows.append(
            (
                budget.scope,
                budget.metric,
                budget.period,
                view.standing.used / limit,
                view.standing.forecast.value / limit,
            )
        )
    return rows


def footprint_totals(*, start, end) -> list:
    """The one read of the footprint figures the gauges show: ScopeTotals of the organisation
    and of every site, team and project over the UTC days [start, end)."""
    from assessments.footprint.scope_totals import scope_totals

    return scope_totals(start=start, end=end)


def _footprint_figures() -> dict:
    """Today's and the month-to-date's totals, from the cache or computed once per
    FOOTPRINT_CACHE_SECONDS (shared by all workers where CACHE_URL names Redis)."""
    today = timezone.now().date()  # UTC: USE_TZ with UTC, as the daily aggregates' days
    key = _FOOTPRINT_CACHE_KEY.format(day=today.isoformat())
    figures = cache.get(key)
    if figures is not None:
        return figures
    from assessments.models import Organisation

    tomorrow = today + timedelta(days=1)
    starts = {"today": today, "month": today.replace(day=1)}
    figures = {
        "computed_at": time.time(),
        "currency": Organisation.get().currency,
        "windows": {
            window: [tuple(row) for row in footprint_totals(start=start, end=tomorrow)]
            for window, start in starts.items()
        },
        "budgets": budget_standings(),
    }
    cache.set(key, figures, FOOTPRINT_CACHE_SECONDS)
    return figures


class FootprintFigures:
    """Energy, carbon and cost per scope for today and the month to date (UTC days).

    Each series has exactly one scope label (organisation, site, team or project) and window.
    """

    def collect(self):
        from assessments.footprint.scope_totals import ScopeTotals

        try:
            figures = _footprint_figures()
        except DatabaseError:
            logger.exception("Footprint figures left out of /metrics.")
            return
        for name, (field, text) in FOOTPRINT_GAUGES.items():
            family = GaugeMetricFamily(name, text)
            for window in FOOTPRINT_WINDOWS:
                for row in figures["windows"][window]:
                    totals = ScopeTotals(*row)
                    labels = {totals.kind: totals.name, "window": window}
                    if field == "cost":
                        labels["currency"] = figures["currency"]
                    family.add_sample(name, labels, getattr(totals, field))
            yield family
        for name, (field, text) in BUDGET_GAUGES.items():
            family = GaugeMetricFamily(name, text)
            for scope, metric, period, used, forecast in figures["budgets"]:
                labels = {"scope": scope, "metric": metric, "period": period}
                family.add_sample(name, labels, used if field == "used" else forecast)
            yield family
        yield GaugeMetricFamily(
            "greenai_footprint_computed_timestamp_seconds",
            "When the footprint gauges' figures were computed (Unix time); they are cached for"
            f" {FOOTPRINT_CACHE_SECONDS} s.",
            value=figures["computed_at"],
        )


class _DefaultRegistry:
    """The default registry (this process' metrics and the database figures) as one collector
    of a per-scrape registry."""

    def collect(self):
        return REGISTRY.collect()


def _registry(*, with_footprint: bool) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every worker's counters from its files; the database figures once.
        multiprocess.MultiProcessCollector(registry)
        registry.register(_DATABASE_FIGURES)
    else:
        registry.register(_DefaultRegistry())
    if with_footprint:
        registry.register(FootprintFigures())
    return registry


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
    registry = _registry(with_footprint=bool(expected))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


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
