"""Collectors, the hosts and devices they report, and the raw samples they push."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Collector(models.Model):
    """An agent identity. Its token is stored only as a keyed digest (greenai_site.tokens)."""

    name = models.CharField(max_length=100, unique=True)
    team = models.ForeignKey(
        "assessments.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="collectors",
    )
    token_prefix = models.CharField(max_length=16, unique=True)
    token_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # May send samples older than the raw-sample retention (never before INGEST_EARLIEST_TS):
    # replaying a recorded trace, importing an old spool, the demo's seeding. Granted by admins.
    allow_backfill = models.BooleanField(
        default=False,
        help_text="May send samples older than the raw-sample retention (not before 2000).",
    )
    # Process tags naming a project of another team, stored without that tag (docs/ingest.md).
    foreign_tags = models.PositiveBigIntegerField(default=0)
    foreign_tag_last_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.name

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class Host(models.Model):
    """A server. Registered by the agent on first sight; enriched by the inventory."""

    hostname = models.CharField(max_length=255, unique=True)
    collector = models.ForeignKey(
        Collector, null=True, blank=True, on_delete=models.SET_NULL, related_name="hosts"
    )
    agent_version = models.CharField(max_length=50, blank=True)
    site = models.ForeignKey(
        "assessments.Site", null=True, blank=True, on_delete=models.PROTECT, related_name="hosts"
    )
    hardware_model = models.ForeignKey(
        "assessments.HardwareModel",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="hosts",
        help_text="Host class (without GPUs) for the embodied default.",
    )
    # Explicit embodied carbon of the host without its GPUs; blank = from hardware_model.
    embodied_kgco2e = models.FloatField(null=True, blank=True)
    embodied_source = models.CharField(max_length=300, blank=True)
    lifetime_years = models.FloatField(null=True, blank=True)
    # Uncertainty bounds of the two above (docs/methodology.md, "Ranges"): blank equals the value.
    min_kgco2e = models.FloatField(null=True, blank=True)
    max_kgco2e = models.FloatField(null=True, blank=True)
    lifetime_years_min = models.FloatField(null=True, blank=True)
    lifetime_years_max = models.FloatField(null=True, blank=True)
    purchased = models.DateField(null=True, blank=True)
    decommissioned = models.DateField(null=True, blank=True)
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.hostname

    def clean(self):
        from django.core.exceptions import ValidationError

        from assessments.organisation.factor_bounds import EMBODIED_BOUNDS, bound_problems

        problems = bound_problems(vars(self), EMBODIED_BOUNDS)
        if problems:
            raise ValidationError(problems)


class Device(models.Model):
    """A GPU (or MIG slice) or CPU package reported by an agent."""

    class Kind(models.TextChoices):
        GPU = "gpu", "GPU"
        CPU = "cpu", "CPU package"

    class Source(models.TextChoices):
        """Where the device's energy comes from: measured by the agent (NVML for a GPU, RAPL
        for a CPU package) or simulated (`sim:N`, the demo); each has its own measurement
        bounds (docs/methodology.md, "Ranges")."""

        MEASURED = "measured", "Measured"
        SIMULATED = "simulated", "Simulated"

    uuid = models.CharField(max_length=128, unique=True)
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="devices")
    collector = models.ForeignKey(
        Collector, null=True, blank=True, on_delete=models.SET_NULL, related_name="devices"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.GPU)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MEASURED)
    index = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=200, blank=True, help_text="Model name as NVML reports it.")
    power_limit_w = models.FloatField(null=True, blank=True)
    is_mig = models.BooleanField(default=False)
    parent_uuid = models.CharField(max_length=128, blank=True)
    # Blank: matched to a GPU model by name at rollup time. Set: the user's override.
    gpu_model_override = models.ForeignKey(
        "assessments.HardwareModel",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["host", "index"])]

    def __str__(self):
        return f"{self.host.hostname}/{self.kind}{self.index} {self.name}"


class IngestBatch(models.Model):
    """One accepted ingest request; batch_id is the client's idempotency key."""

    batch_id = models.UUIDField(unique=True)
    collector = models.ForeignKey(Collector, on_delete=models.CASCADE, related_name="batches")
    host = models.ForeignKey(Host, null=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    sample_count = models.PositiveIntegerField(default=0)
    stored_count = models.PositiveIntegerField(default=0)


class IngestRejection(models.Model):
    """A refused ingest request, kept for the collectors page and data-quality reporting."""

    collector = models.ForeignKey(
        Collector, null=True, blank=True, on_delete=models.CASCADE, related_name="rejections"
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.PositiveSmallIntegerField()
    reason = models.CharField(max_length=50)
    message = models.TextField(blank=True)


class RawSample(models.Model):
    """Energy of one device over one interval that ends at ts (UTC)."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="samples")
    ts = models.DateTimeField()
    duration_s = models.FloatField()
    energy_j = models.FloatField()
    power_w = models.FloatField(null=True, blank=True)
    util_pct = models.FloatField(null=True, blank=True)
    mem_used_mib = models.FloatField(null=True, blank=True)
    # [{"project": slug, "phase": name, "share": 0..1}, ...] or null when untagged.
    tags = models.JSONField(null=True, blank=True)
    # [{"id", "user", "account", "partition", "namespace", "pod", "container", "share"}, ...]:
    # the Slurm jobs or Kubernetes pods that used the device, or null.
    jobs = models.JSONField(null=True, blank=True)
    batch = models.ForeignKey(IngestBatch, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "ts"], name="rawsample_unique_device_ts")
        ]
        indexes = [models.Index(fields=["ts"], name="rawsample_ts")]


class DirtyHour(models.Model):
    """A mark: a (device, hour) whose raw samples changed since it was last rolled up.

    Marks are append-only: ingest inserts one per (device, hour, batch) and never updates one, so
    it never waits on a mark a rollup holds; the rollup deletes the marks it processed. A mark
    with a batch adds that batch's samples to the hour's facts (incremental); a mark without
    one (a recompute request) recomputes the hour from all its samples.
    """

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    marked_at = models.DateTimeField(default=timezone.now)
    # The IngestBatch whose samples made this mark (a plain id: no lock on the batch row).
    batch_id = models.BigIntegerField(null=True, blank=True)
    # Set by an explicit recompute with current factors (rollup --refresh-factors, a grid
    # import); ingest leaves it alone, so new samples recompute with the hour's stored factors.
    refresh_factors = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["hour"], name="dirtyhour_hour"),
            models.Index(fields=["device", "hour"], name="dirtyhour_device_hour"),
            models.Index(fields=["marked_at"], name="dirtyhour_marked_at"),
        ]
