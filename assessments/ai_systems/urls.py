"""AI systems: the API and the pages."""

from django.urls import path

from assessments.ai_systems import api

urlpatterns = [
    path("api/v1/models", api.model_list, name="api_models"),
    path(
        "api/v1/models/<slug:slug>/versions",
        api.version_create,
        name="api_model_versions",
    ),
    path(
        "api/v1/models/<slug:slug>/versions/<str:version>/footprint",
        api.version_footprint_view,
        name="api_version_footprint",
    ),
]
