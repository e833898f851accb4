"""Routes of the jobs area: energy per Slurm job or Kubernetes pod."""

from django.urls import path

from assessments.jobs import api

urlpatterns = [
    path("api/v1/jobs", api.job_list, name="api_jobs"),
]
