"""Daily aggregates of the hourly facts, so dashboards over months read thousands of rows, not
millions. Rebuilt from the hourly facts by assessments.footprint.daily_facts.daily_facts_refresh."""

from django.db import models

from assessments.models.facts import FootprintMeasures


class FactorSpread(models.Model):
    """The factor values a set of facts was computed with: lowest and highest PUE, price and
    grid intensity seen across its hours, the grid sources and every fallback note. The spread
    of the values used over time, not their uncertainty (the bounds of docs/methodology.md,
    "Ranges", live on Site, Host and HardwareModel)."""

    pue_min = models.FloatField(null=True, blank=True)
    pue_max = models.FloatField(null=True, blank=True)
    price_min = models.FloatField(null=True, blank=True)
    price_max = models.FloatField(null=True, blank=True)
    grid_min = models.FloatField(null=True, blank=True)
    grid_max = models.FloatField(null=True, blank=True)
    grid_sources = models.JSONField(default=list, blank=True)
    factor_notes = models.JSONField(default=list, blank=True)

    class Meta:
        abstract = True


class ProjectDay(FootprintMeasures):
    """One day's sums of HourlyProjectFact per (project, team, site, phase); project null =
    unallocated."""

    day = models.DateField()
    project = models.ForeignKey(
        "assessments.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    team = models.ForeignKey(
        "assessments.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    site = models.ForeignKey(
        "assessments.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    phase = models.CharField(max_length=20, blank=True)

    class Meta:
        abstract = True


class PerHost(models.Model):
    """The host whose devices' facts a row sums and how their energy was measured
    (footprint.scope_ranges.measurement_of): what a scope's ranges read."""

    host = models.ForeignKey(
        "collectors.Host", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    measurement = models.CharField(max_length=12, blank=True)

    class Meta:
        abstract = True


class DailyProjectFact(ProjectDay):
    """One day's sums of HourlyProjectFact per (project, team, site, phase): the figures' reads."""

    class Meta:
        indexes = [
            models.Index(fields=["day"], name="dailyproject_day"),
            models.Index(fields=["project", "day"], name="dailyproject_project_day"),
            models.Index(fields=["team", "day"], name="dailyproject_team_day"),
        ]


class DailyRangeFact(ProjectDay, PerHost):
    """The same sums as DailyProjectFact, per host and measurement too: what a scope's ranges
    read, days per host rather than hours per device. Kept apart so that the figures' own
    reads stay small."""

    class Meta:
        indexes = [
            models.Index(fields=["day"], name="dailyrange_day"),
            models.Index(fields=["project", "day"], name="dailyrange_project_day"),
            models.Index(fields=["team", "day"], name="dailyrange_team_day"),
        ]


class DailyHostRangeFact(FootprintMeasures, PerHost):
    """DailyRangeFact's sums without the project keys: one host's facts of a day per site and
    measurement, unallocated included, what the ranges of the organisation and a site read."""

    day = models.DateField()
    site = models.ForeignKey(
        "assessments.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["day"], name="dailyhostrange_day")]


class DailyDeviceFact(FootprintMeasures, FactorSpread):
    """One device over one UTC day: sums of its HourlyDeviceFact rows."""

    day = models.DateField()
    device = models.ForeignKey("collectors.Device", on_delete=models.CASCADE, related_name="+")
    hours = models.PositiveSmallIntegerField(default=0, help_text="Hourly facts of the day.")
    measured_seconds = models.FloatField(default=0)
    util_hours = models.PositiveSmallIntegerField(default=0, help_text="Hours with utilisation.")
    util_pct_sum = models.FloatField(default=0, help_text="Sum of the hourly mean utilisation.")
    idle_hours = models.PositiveSmallIntegerField(default=0)
    idle_energy_it_kwh = models.FloatField(default=0)
    # For reads that do not grow with the hours: in-service time, un-measured embodied carbon
    # and the factors used, per device-day (assessments.footprint.selectors).
    first_hour = models.DateTimeField(null=True, blank=True)
    last_hour = models.DateTimeField(null=True, blank=True)
    last_embodied_kgco2e_per_hour = models.FloatField(null=True, blank=True)
    site = models.ForeignKey(
        "assessments.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "day"], name="dailydevice_unique_device_day")
        ]
        indexes = [models.Index(fields=["day"], name="dailydevice_day")]


class DailySiteFactors(FactorSpread):
    """The factor values one UTC day's facts at one site were computed with.

    What footprint_factors shows over whole days, in one row per site-day rather than one per
    device-day. Rebuilt from the day's DailyDeviceFact rows whenever they change
    (assessments.footprint.daily_facts); site null: devices without a site.
    """

    day = models.DateField()
    site = models.ForeignKey(
        "assessments.Site", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["day", "site"], name="dailysitefactors_day_site")]
