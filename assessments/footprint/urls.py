"""Read API: footprints, work units, the OpenAPI schema."""

from django.urls import path

from assessments.footprint import api

urlpatterns = [
    path("api/v1/footprint", api.organisation_footprint, name="api_footprint"),
    path(
        "api/v1/projects/<slug:slug>/footprint",
        api.project_footprint,
        name="api_project_footprint",
    ),
    path("api/v1/projects/<slug:slug>/work", api.project_work, name="api_project_work"),
    path("api/v1/teams/<slug:slug>/footprint", api.team_footprint, name="api_team_footprint"),
    path("api/v1/openapi.json", api.openapi_schema, name="api_openapi"),
]
