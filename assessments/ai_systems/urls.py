"""AI systems: the API and the pages."""

from django.urls import path

from assessments.ai_systems import api, views

urlpatterns = [
    path("ai-systems/", views.ai_system_list, name="ai_system_list"),
    path("ai-systems/new/", views.ai_system_create, name="ai_system_create"),
    path("ai-systems/<slug:slug>/", views.ai_system_detail, name="ai_system_detail"),
    path("ai-systems/<slug:slug>/versions/new/", views.version_create, name="ai_version_create"),
    path(
        "ai-systems/<slug:slug>/versions/<str:version>/edit/",
        views.version_edit,
        name="ai_version_edit",
    ),
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
