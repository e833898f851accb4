"""Routes of the collectors app: the ingest API, the app-wide Prometheus endpoint and
the health check."""

from django.urls import path

from collectors.api import ingest_view
from collectors.metrics import health_view, metrics_view

urlpatterns = [
    path("api/v1/ingest", ingest_view, name="ingest"),
    path("metrics", metrics_view, name="metrics"),
    path("health", health_view, name="health"),
]
