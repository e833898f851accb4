"""Routes of the monthly PDF reports."""

from django.urls import path

from assessments.reports import views as views_reports

urlpatterns = [
    path("reports/", views_reports.reports_page, name="reports"),
    path("reports/generate/", views_reports.report_generate_now, name="report_generate"),
    path("reports/<int:pk>/download/", views_reports.report_download, name="report_download"),
]
