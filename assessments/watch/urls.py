"""Routes of the watch area: budgets and their API."""

from django.urls import path

from assessments.watch import api, views

urlpatterns = [
    path("budgets/", views.budget_list, name="budget_list"),
    path("budgets/new/", views.budget_create, name="budget_create"),
    path("budgets/<int:pk>/edit/", views.budget_edit, name="budget_edit"),
    path("budgets/<int:pk>/remove/", views.budget_remove, name="budget_remove"),
    path("budgets/<int:pk>/burndown.json", views.budget_chart, name="budget_chart"),
    path("api/v1/budgets", api.budget_list, name="api_budgets"),
]
