"""The engineers' pages that change the organisation, and the methodology page."""

from django.urls import path

from assessments.organisation import views

urlpatterns = [
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<slug:slug>/edit/", views.project_edit, name="project_edit"),
    path(
        "projects/<slug:slug>/allocations/new/",
        views.allocation_create,
        name="allocation_create",
    ),
    path(
        "projects/<slug:slug>/allocations/<int:pk>/delete/",
        views.allocation_delete,
        name="allocation_delete",
    ),
    path("projects/<slug:slug>/work/new/", views.work_record_create, name="work_create"),
    path(
        "projects/<slug:slug>/work/<int:pk>/delete/",
        views.work_record_delete,
        name="work_delete",
    ),
    path("collectors/", views.collector_list, name="collector_list"),
    path("collectors/new/", views.collector_create, name="collector_create"),
    path("collectors/<int:pk>/revoke/", views.collector_revoke, name="collector_revoke"),
    path("collectors/<int:pk>/backfill/", views.collector_backfill, name="collector_backfill"),
    path("account/tokens/", views.token_list, name="token_list"),
    path("account/tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("methodology/", views.methodology, name="methodology"),
    path("factors/sites/new/", views.site_create, name="site_create"),
    path("factors/sites/<int:pk>/edit/", views.site_edit, name="site_edit"),
    path("factors/hardware/new/", views.hardware_model_create, name="hardware_model_create"),
    path("factors/hardware/<int:pk>/edit/", views.hardware_model_edit, name="hardware_model_edit"),
]
