"""Hourly facts: what the rollup computes from raw samples, with the factors it used."""

from django.db import models
from django.utils import timezone


class MeasuresQuerySet(models.QuerySet):
    def measure_sums(self) -> dict[str, float]:
        """The summed figures of these facts (0 where there are none) and their total carbon.

        The dashboards (daily facts), the read API and the monthly report (hourly facts) all sum
        through this one method, so a figure cannot mean one thing on a page and another in the
        API.
        """
        row = self.aggregate(**{name: models.Sum(name) for name in MEASURE_FIELDS})
        return _with_total({name: row[name] or 0.0 for name in MEASURE_FIELDS})

    def measure_sums_in(self, parts: list[models.Q]) -> list[dict[str, float]]:
        """measure_sums() of each part of these facts (a condition each, such as a period), in
        one query."""
        row = self.aggregate(
            **{
                f"{name}__{n}": models.Sum(name, filter=part)
                for n, part in enumerate(parts)
                for name in MEASURE_FIELDS
            }
        )
        return [
            _with_total({name: row[f"{name}__{n}"] or 0.0 for name in MEASURE_FIELDS})
            for n in range(len(parts))
        ]


def _with_total(sums: dict[str, float]) -> dict[str, float]:
    sums["total_kgco2e"] = sums["operational_kgco2e"] + sums["embodied_kgco2e"]
    return sums


class FootprintMeasures(models.Model):
    """The figures every fact table sums: one definition, so hourly and daily facts agree."""

    energy_it_kwh = models.FloatField(default=0)
    energy_facility_kwh = models.FloatField(default=0)
    operational_kgco2e = models.FloatField(default=0)
    embodied_kgco2e = models.FloatField(default=0)
    cost = models.FloatField(default=0)
    gpu_hours = models.FloatField(default=0)

    objects = MeasuresQuerySet.as_manager()

    class Meta:
        abstract = True


# The figures summed over facts, in model order: every sum over facts reads this one tuple.
MEASURE_FIELDS: tuple[str, ...] = tuple(field.name for field in FootprintMeasures._meta.fields)


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


class HourlyJobFact(FootprintMeasures):
    """A job's share of one device over one hour: energy per Slurm job or Kubernetes pod.

    Priced with the device-hour's factors (HourlyDeviceFact), so a job's figures are its share
    of its device's. The project is the one the job's samples were attributed to (a direct tag
    or an attribution rule), null when none.
    """

    device = models.ForeignKey("collectors.Device", on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    job_key = models.CharField(max_length=300)
    job_id = models.CharField(max_length=100, blank=True)
    user = models.CharField(max_length=100, blank=True)
    account = models.CharField(max_length=100, blank=True)
    namespace = models.CharField(max_length=253, blank=True)
    pod = models.CharField(max_length=253, blank=True)
    project = models.ForeignKey(
        "assessments.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(
        "assessments.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device", "hour", "job_key"], name="jobfact_unique_device_hour_job"
            )
        ]
        indexes = [
            models.Index(fields=["hour"], name="jobfact_hour"),
            models.Index(fields=["project", "hour"], name="jobfact_project_hour"),
            models.Index(fields=["user", "hour"], name="jobfact_user_hour"),
        ]
