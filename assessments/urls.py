"""Routes of the assessments app; each area keeps its own list."""

from django.urls import include, path

urlpatterns = [
    path("", include("assessments.urls_read_api")),  # footprint API, work units, OpenAPI
    path("", include("assessments.urls_pages")),  # dashboards and engineers' forms
    path("", include("assessments.urls_decisions")),  # optimisations, ROI, recommendations
    path("", include("assessments.urls_reports")),  # monthly PDF reports
]
