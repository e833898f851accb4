"""Routes of the assessments app; each area keeps its own list."""

from django.urls import include, path

urlpatterns = [
    path("", include("assessments.footprint.urls")),  # footprint API, work units, OpenAPI
    # Before the dashboards: "projects/new/" must not be read as the project named "new".
    path("", include("assessments.organisation.urls")),  # engineers' forms, methodology
    path("", include("assessments.dashboards.urls")),  # dashboards, chart JSON, CSV exports
    path("", include("assessments.decisions.urls")),  # optimisations, ROI, recommendations
    path("", include("assessments.reports.urls")),  # monthly PDF reports
    path("", include("assessments.jobs.urls")),  # energy per job and per user
    path("", include("assessments.codecarbon.urls")),  # CodeCarbon API, experiment mappings
    path("", include("assessments.watch.urls")),  # budgets and alerts
    path("", include("assessments.ai_systems.urls")),  # AI systems, versions, lifecycle
    path("", include("assessments.ai_systems.comparison_urls")),  # versions side by side
]
