"""In-service time kept by the rollup, so that the embodied carbon of in-service hours nothing
measured is read per window and per day, not worked out per device on every read
(assessments.footprint.in_service; docs/rollup.md, "In-service time")."""

from django.db import models


class DeviceInService(models.Model):
    """A device's in-service window and its current embodied rate (what its un-measured hours
    cost where no fact of the day stored a rate)."""

    device = models.OneToOneField(
        "collectors.Device", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    host = models.ForeignKey("collectors.Host", on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey(
        "assessments.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    since = models.DateTimeField(null=True, blank=True, help_text="Null: never in service.")
    until = models.DateTimeField(null=True, blank=True, help_text="Null: still in service.")
    kgco2e_per_hour = models.FloatField(default=0)
    # What the ranges read of the device (footprint.scope_ranges): the GPU model its GPU part
    # is charged at, that part of the rate (the rest is its host's share), and how its energy
    # is measured.
    gpu_model = models.CharField(max_length=200, blank=True)
    gpu_kgco2e_per_hour = models.FloatField(default=0)
    measurement = models.CharField(max_length=12, blank=True)


class DailyInServiceFact(models.Model):
    """One host's device-days with facts on one UTC day: the in-service hours they measured and
    not, and how their un-measured hours' embodied carbon (at the rate stored with the day's
    facts) differs from the windows' estimate (every in-service hour at the current rate)."""

    day = models.DateField()
    host = models.ForeignKey("collectors.Host", on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey(
        "assessments.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    devices = models.PositiveIntegerField(default=0, help_text="The host's devices.")
    reported_devices = models.PositiveIntegerField(default=0)
    in_service_hours = models.FloatField(default=0)
    measured_seconds = models.FloatField(default=0)
    unmeasured_hours = models.FloatField(default=0)
    unmeasured_kgco2e = models.FloatField(default=0)
    current_rate_kgco2e = models.FloatField(default=0)
    counted_until = models.DateTimeField(help_text="The day's end once it was over.")
    open_devices = models.PositiveIntegerField(default=0)
    slope_kgco2e_per_hour = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "host"], name="dailyinservice_unique_day_host")
        ]
        indexes = [models.Index(fields=["day"], name="dailyinservice_day")]


class InServiceStale(models.Model):
    """A host whose in-service rows wait for a rebuild (inventory changed); host null: every
    host. Reads work such hosts out from the inventory until the rollup rebuilt them."""

    # A plain id, not a foreign key: a host being deleted marks itself on the way out.
    host_id = models.BigIntegerField(null=True, blank=True)
    marked_at = models.DateTimeField(auto_now_add=True)
