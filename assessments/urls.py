"""Routes of the assessments app; each area keeps its own list."""

from django.urls import include, path

urlpatterns = [
    path("", include("assessments.footprint.urls")),  # footprint API, work units, OpenAPI
    path("", include("assessments.dashboards.urls")),  # dashboards and engineers' forms
    path("", include("assessments.decisions.urls")),  # optimisations, ROI, recommendations
    path("", include("assessments.reports.urls")),  # monthly PDF reports
    path("", include("assessments.codecarbon.urls")),  # CodeCarbon API, experiment mappings
]
