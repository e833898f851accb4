"""Hourly facts: what the rollup computes from raw samples, with the factors it used."""

from django.db import models
from django.utils import timezone


class FootprintMeasures(models.Model):
    """The figures every fact table sums: one definition, so hourly and daily facts agree."""

    energy_it_kwh = models.FloatField(default=0)
    energy_facility_kwh = models.FloatField(default=0)
    operational_kgco2e = models.FloatField(default=0)
    embodied_kgco2e = models.FloatField(default=0)
    cost = models.FloatField(default=0)
    gpu_hours = models.FloatField(default=0)

    class Meta:
        abstract = True


class HourlyDeviceFact(FootprintMeasures):
    """One device over one UTC hour, with the factor values the numbers were computed with."""

    device = models.ForeignKey("collectors.Device", on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    site = models.ForeignKey(
        "assessments.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    measured_seconds = models.FloatField(default=0)
    coverage = models.FloatField(default=0, help_text="measured_seconds / 3600")
    util_mean_pct = models.FloatField(null=True, blank=True)
    # Factors used; a recompute reuses them unless asked to refresh factors.
    pue = models.FloatField()
    grid_gco2e_per_kwh = models.FloatField(help_text="Energy-weighted mean over the hour.")
    grid_source = models.CharField(max_length=300)
    price_per_kwh = models.FloatField()
    embodied_kgco2e_per_hour = models.FloatField()
    factor_notes = models.JSONField(default=list, blank=True, help_text="Data gaps, fallbacks.")
    computed_at = models.DateTimeField(default=timezone.now)
    # The unpriced sums the figures were computed from (segments of the hour and, per segment
    # and tag set, energy, seconds and utilisation sums), so that new samples add to them
    # instead of re-reading the hour. Null: unknown (only re-pricing or a recompute applies).
    usage = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "hour"], name="devicefact_unique_device_hour")
        ]
        indexes = [models.Index(fields=["hour"], name="devicefact_hour")]


class HourlyProjectFact(FootprintMeasures):
    """A project's share of one device over one hour; project null = unallocated."""

    class Attribution(models.TextChoices):
        TAG = "tag", "Process tag"
        ALLOCATION = "allocation", "Allocation"
        UNALLOCATED = "unallocated", "Unallocated"

    device = models.ForeignKey("collectors.Device", on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    project = models.ForeignKey(
        "assessments.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    attribution = models.CharField(max_length=12, choices=Attribution.choices)
    # Denormalised at rollup time so dashboards group without joins.
    team = models.ForeignKey(
        "assessments.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    site = models.ForeignKey(
        "assessments.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    phase = models.CharField(max_length=20, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device", "hour", "project", "attribution"],
                name="projectfact_unique_device_hour_project",
            )
        ]
        indexes = [
            models.Index(fields=["hour"], name="projectfact_hour"),
            models.Index(fields=["project", "hour"], name="projectfact_project_hour"),
        ]
