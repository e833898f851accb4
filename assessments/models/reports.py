"""Monthly sustainability reports (PDF), generated and stored."""

from django.db import models
from django.utils import timezone


class Report(models.Model):
    class Status(models.TextChoices):
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    month = models.DateField(help_text="First day of the month reported on.")
    team = models.ForeignKey(
        "assessments.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="reports"
    )
    file = models.FileField(upload_to="reports/", blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.READY)
    error = models.TextField(blank=True)
    totals = models.JSONField(default=dict, blank=True)
    factor_versions = models.JSONField(default=dict, blank=True)
    generated_at = models.DateTimeField(default=timezone.now)
    emailed_to = models.TextField(blank=True)

    class Meta:
        ordering = ["-month", "team__name"]
