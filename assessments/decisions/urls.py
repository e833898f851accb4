"""Routes of the decisions area: ROI page, optimisation form, recommendations, their API."""

from django.urls import path

from assessments.decisions import api as api_decisions
from assessments.decisions import views as views_decisions

urlpatterns = [
    path("roi/", views_decisions.roi_page, name="roi"),
    path("roi/chart.json", views_decisions.roi_chart, name="roi_chart"),
    path("roi/optimisations/new/", views_decisions.optimisation_create, name="optimisation_create"),
    path(
        "roi/optimisations/<int:pk>/edit/",
        views_decisions.optimisation_edit,
        name="optimisation_edit",
    ),
    path("recommendations/", views_decisions.recommendations_page, name="recommendations"),
    path(
        "recommendations/<int:pk>/accept/",
        views_decisions.recommendation_accept,
        name="recommendation_accept",
    ),
    path(
        "recommendations/<int:pk>/dismiss/",
        views_decisions.recommendation_dismiss,
        name="recommendation_dismiss",
    ),
    path("api/v1/optimisations", api_decisions.optimisation_list, name="api_optimisations"),
    path(
        "api/v1/optimisations/<int:pk>",
        api_decisions.optimisation_detail,
        name="api_optimisation",
    ),
    path("api/v1/recommendations", api_decisions.recommendation_list, name="api_recommendations"),
]
