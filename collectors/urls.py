"""Routes of the collectors app: the ingest API and the app-wide Prometheus endpoint."""

from django.urls import path

from collectors.api import ingest_view
from collectors.metrics import metrics_view

urlpatterns = [
    path("api/v1/ingest", ingest_view, name="ingest"),
    path("metrics", metrics_view, name="metrics"),
]
