"""Routes of the versions-side-by-side page of an AI system."""

from django.urls import path

from assessments.ai_systems import comparison_views as views

urlpatterns = [
    path(
        "ai-systems/<slug:slug>/compare/",
        views.version_comparison_page,
        name="version_comparison",
    ),
    path(
        "ai-systems/<slug:slug>/compare/versions.csv",
        views.version_comparison_csv,
        name="version_comparison_csv",
    ),
    path(
        "ai-systems/<slug:slug>/compare/chart.json",
        views.version_comparison_chart,
        name="version_comparison_chart",
    ),
]
