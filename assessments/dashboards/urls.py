"""Dashboards, engineers' forms, chart JSON and CSV exports."""

from django.urls import path

from assessments.dashboards import chart_json as views_charts
from assessments.dashboards import views as views_pages

urlpatterns = [
    path("", views_pages.overview, name="overview"),
    path("projects/", views_pages.project_list, name="project_list"),
    path("projects/new/", views_pages.project_create, name="project_create"),
    path("projects/<slug:slug>/", views_pages.project_detail, name="project_detail"),
    path("projects/<slug:slug>/edit/", views_pages.project_edit, name="project_edit"),
    path(
        "projects/<slug:slug>/allocations/new/",
        views_pages.allocation_create,
        name="allocation_create",
    ),
    path(
        "projects/<slug:slug>/allocations/<int:pk>/delete/",
        views_pages.allocation_delete,
        name="allocation_delete",
    ),
    path("projects/<slug:slug>/work/new/", views_pages.work_record_create, name="work_create"),
    path(
        "projects/<slug:slug>/work/<int:pk>/delete/",
        views_pages.work_record_delete,
        name="work_delete",
    ),
    path(
        "projects/<slug:slug>/export/<str:name>.csv",
        views_pages.export_project_csv,
        name="export_project_csv",
    ),
    path(
        "projects/<slug:slug>/charts/<str:name>.json",
        views_charts.project_chart,
        name="project_chart",
    ),
    path("teams/", views_pages.team_list, name="team_list"),
    path("teams/<slug:slug>/", views_pages.team_detail, name="team_detail"),
    path("hardware/", views_pages.hardware, name="hardware"),
    path("collectors/", views_pages.collector_list, name="collector_list"),
    path("collectors/new/", views_pages.collector_create, name="collector_create"),
    path("collectors/<int:pk>/revoke/", views_pages.collector_revoke, name="collector_revoke"),
    path("account/tokens/", views_pages.token_list, name="token_list"),
    path("account/tokens/<int:pk>/revoke/", views_pages.token_revoke, name="token_revoke"),
    path("export/<str:name>.csv", views_pages.export_csv, name="export_csv"),
    path("charts/<str:name>.json", views_charts.chart, name="chart"),
]
