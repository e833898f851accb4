"""Dashboards, chart JSON and CSV exports."""

from django.urls import path

from assessments.dashboards import chart_json, views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("projects/", views.project_list, name="project_list"),
    path("projects/<slug:slug>/", views.project_detail, name="project_detail"),
    path(
        "projects/<slug:slug>/export/<str:name>.csv",
        views.export_project_csv,
        name="export_project_csv",
    ),
    path(
        "projects/<slug:slug>/charts/<str:name>.json",
        chart_json.project_chart,
        name="project_chart",
    ),
    path("teams/", views.team_list, name="team_list"),
    path("teams/<slug:slug>/", views.team_detail, name="team_detail"),
    path("hardware/", views.hardware, name="hardware"),
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/jobs.csv", views.export_jobs_csv, name="export_jobs_csv"),
    path("export/<str:name>.csv", views.export_csv, name="export_csv"),
    path("charts/<str:name>.json", chart_json.chart, name="chart"),
]
