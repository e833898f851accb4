"""Optimisations engineers record, and recommendations computed from the measurements."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Technique(models.TextChoices):
    QUANTISATION = "quantisation", "Quantisation"
    PRUNING = "pruning", "Pruning"
    DISTILLATION = "distillation", "Distillation"
    LOW_RANK = "low_rank", "Low-rank factorisation"
    BATCHING = "batching", "Batching"
    POWER_CAP = "power_cap", "Power cap"
    CARBON_AWARE = "carbon_aware", "Carbon-aware scheduling"
    HARDWARE_CHANGE = "hardware_change", "Hardware change"
    OTHER = "other", "Other"


class Optimisation(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        APPLIED = "applied", "Applied"
        VERIFIED = "verified", "Verified"

    project = models.ForeignKey(
        "assessments.Project", on_delete=models.CASCADE, related_name="optimisations"
    )
    technique = models.CharField(max_length=20, choices=Technique.choices)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    applied_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    engineering_hours = models.FloatField(default=0)
    hourly_rate = models.FloatField(
        null=True, blank=True, help_text="Blank: the organisation's engineer hourly rate."
    )
    other_costs = models.FloatField(default=0)
    baseline_days = models.PositiveSmallIntegerField(default=14)
    evaluation_days = models.PositiveSmallIntegerField(default=14)
    latency_p50_ms_before = models.FloatField(null=True, blank=True)
    latency_p50_ms_after = models.FloatField(null=True, blank=True)
    latency_p95_ms_before = models.FloatField(null=True, blank=True)
    latency_p95_ms_after = models.FloatField(null=True, blank=True)
    quality_metric = models.CharField(max_length=100, blank=True, help_text='e.g. "accuracy"')
    quality_before = models.FloatField(null=True, blank=True)
    quality_after = models.FloatField(null=True, blank=True)
    # The version the optimisation produced (a distillation, a quantisation, ...): its one-off
    # cost against its saving per request over its parent gives the break-even.
    version = models.ForeignKey(
        "assessments.AiSystemVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="optimisations",
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self):
        return f"{self.get_technique_display()} on {self.project}"


class Recommendation(models.Model):
    class Kind(models.TextChoices):
        IDLE_GPU = "idle_gpu", "Idle GPU"
        LOW_UTILISATION = "low_utilisation", "Low utilisation"
        POWER_CAP = "power_cap", "Power cap"
        CARBON_AWARE_TIMING = "carbon_aware_timing", "Carbon-aware timing"
        SITE_CHOICE = "site_choice", "Site choice"
        OPTIMISATION_CANDIDATE = "optimisation_candidate", "Optimisation candidate"
        HARDWARE_LIFETIME = "hardware_lifetime", "Hardware lifetime"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        DISMISSED = "dismissed", "Dismissed"

    class Confidence(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    # Stable key of kind + target, so a refresh updates rather than duplicates.
    fingerprint = models.CharField(max_length=200, unique=True)
    target = models.CharField(max_length=200, help_text="What it is about, in words.")
    project = models.ForeignKey(
        "assessments.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    host = models.ForeignKey(
        "collectors.Host", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    device = models.ForeignKey(
        "collectors.Device", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    title = models.CharField(max_length=300)
    action = models.TextField()
    evidence = models.JSONField(default=dict)
    evidence_digest = models.CharField(max_length=64, blank=True)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    monthly_facility_energy_kwh = models.FloatField(default=0)
    monthly_cost = models.FloatField(default=0)
    monthly_kgco2e = models.FloatField(default=0)
    confidence = models.CharField(max_length=6, choices=Confidence.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    dismissed_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    optimisation = models.ForeignKey(
        Optimisation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recommendations",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.title
