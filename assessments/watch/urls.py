"""Routes of the watch area: budgets, alerts, their API."""

from django.urls import path

from assessments.watch import alert_views, api, views

urlpatterns = [
    path("budgets/", views.budget_list, name="budget_list"),
    path("budgets/new/", views.budget_create, name="budget_create"),
    path("budgets/<int:pk>/edit/", views.budget_edit, name="budget_edit"),
    path("budgets/<int:pk>/remove/", views.budget_remove, name="budget_remove"),
    path("budgets/<int:pk>/burndown.json", views.budget_chart, name="budget_chart"),
    path("api/v1/budgets", api.budget_list, name="api_budgets"),
    path("alerts/", alert_views.alert_list, name="alert_list"),
    path("alerts/export.csv", alert_views.alert_csv, name="alert_csv"),
    path(
        "alerts/<int:pk>/acknowledge/",
        alert_views.alert_acknowledge_view,
        name="alert_acknowledge",
    ),
    path("alerts/rules/", alert_views.rule_list, name="alert_rules"),
    path("alerts/rules/<int:pk>/edit/", alert_views.rule_edit, name="alert_rule_edit"),
    path("alerts/channels/new/", alert_views.channel_create, name="channel_create"),
    path("alerts/channels/<int:pk>/remove/", alert_views.channel_remove, name="channel_remove"),
    path("api/v1/alerts", api.alert_list, name="api_alerts"),
]
