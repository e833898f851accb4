"""CodeCarbon's API (for its tracker) and the experiment mappings (docs/codecarbon.md)."""

from django.urls import path

from assessments.codecarbon import api, views

urlpatterns = [
    path("api/codecarbon/runs", api.runs, name="codecarbon_runs"),
    path("api/codecarbon/emissions", api.emissions, name="codecarbon_emissions"),
    path(
        "api/codecarbon/experiments/<uuid:experiment_id>",
        api.experiment,
        name="codecarbon_experiment",
    ),
    path(
        "api/v1/projects/<slug:slug>/codecarbon-experiments",
        api.project_experiments,
        name="api_project_codecarbon_experiments",
    ),
    path(
        "projects/<slug:slug>/codecarbon/experiments/new/",
        views.experiment_create,
        name="codecarbon_experiment_create",
    ),
    path(
        "projects/<slug:slug>/codecarbon/experiments/<int:pk>/delete/",
        views.experiment_delete,
        name="codecarbon_experiment_delete",
    ),
    path(
        "projects/<slug:slug>/codecarbon/upload/",
        views.emissions_upload,
        name="codecarbon_upload",
    ),
]
