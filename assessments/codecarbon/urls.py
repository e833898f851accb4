"""CodeCarbon's API (for its tracker) and the experiment mappings (docs/codecarbon.md)."""

from django.urls import path

from assessments.codecarbon import api

urlpatterns = [
    path("api/codecarbon/runs", api.runs, name="codecarbon_runs"),
    path("api/codecarbon/emissions", api.emissions, name="codecarbon_emissions"),
    path(
        "api/codecarbon/experiments/<uuid:experiment_id>",
        api.experiment,
        name="codecarbon_experiment",
    ),
]
