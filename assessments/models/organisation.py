"""What the organisation knows: settings, sites, grid zones, hardware, teams, projects, people."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class Organisation(models.Model):
    """The single organisation this installation serves (row pk=1)."""

    name = models.CharField(max_length=200, default="My organisation")
    currency = models.CharField(max_length=3, default="EUR")
    internal_carbon_price_per_t = models.FloatField(null=True, blank=True)
    engineer_hourly_rate = models.FloatField(
        default=80.0, help_text="Cost of one engineering hour, for optimisation investments."
    )
    report_recipients = models.TextField(
        blank=True, help_text="E-mail addresses for the monthly report, one per line."
    )

    def __str__(self):
        return self.name

    @classmethod
    def get(cls) -> "Organisation":
        organisation, _ = cls.objects.get_or_create(pk=1)
        return organisation


class GridZone(models.Model):
    """Annual grid carbon intensity of a country (ISO 3166 alpha-3) or a cloud region."""

    class Kind(models.TextChoices):
        COUNTRY = "country", "Country"
        CLOUD = "cloud", "Cloud region"

    code = models.CharField(max_length=64, unique=True, help_text='"FRA" or "gcp:us-central1".')
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.COUNTRY)
    gco2e_per_kwh = models.FloatField()
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    source = models.CharField(max_length=300)

    def __str__(self):
        return f"{self.code} ({self.gco2e_per_kwh:g} gCO2e/kWh)"


class GridIntensityHour(models.Model):
    """One hour of an imported hourly series; holds for the hour starting at `hour` (UTC)."""

    class Basis(models.TextChoices):
        LIFECYCLE = "lca", "Life cycle"
        DIRECT = "direct", "Direct (Scope 2)"

    zone = models.ForeignKey(GridZone, on_delete=models.CASCADE, related_name="hours")
    hour = models.DateTimeField()
    gco2e_per_kwh = models.FloatField()
    basis = models.CharField(max_length=10, choices=Basis.choices, default=Basis.LIFECYCLE)
    source = models.CharField(max_length=300)
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["zone", "hour"], name="gridhour_unique_zone_hour")
        ]


class Site(models.Model):
    name = models.CharField(max_length=100, unique=True)
    grid_zone = models.CharField(max_length=64, help_text='ISO alpha-3 or "provider:region".')
    pue = models.FloatField(null=True, blank=True, help_text="Blank: the industry default.")
    pue_source = models.CharField(max_length=300, blank=True)
    energy_price_per_kwh = models.FloatField(null=True, blank=True)
    price_source = models.CharField(max_length=300, blank=True)
    # Uncertainty bounds (docs/methodology.md, "Ranges"): blank equals the value.
    pue_min = models.FloatField(null=True, blank=True)
    pue_max = models.FloatField(null=True, blank=True)
    grid_uncertainty_pct = models.FloatField(
        null=True,
        blank=True,
        help_text="+-% on the grid zone's value and hourly series; blank: 0 (a known zone).",
    )
    price_min = models.FloatField(null=True, blank=True)
    price_max = models.FloatField(null=True, blank=True)

    def __str__(self):
        return self.name

    def clean(self):
        from assessments.organisation.factor_bounds import (
            SITE_BOUNDS,
            UNCERTAINTY_PCT_FIELDS,
            bound_problems,
        )

        problems = bound_problems(vars(self), SITE_BOUNDS, UNCERTAINTY_PCT_FIELDS)
        if problems:
            raise ValidationError(problems)


class HardwareModel(models.Model):
    """Embodied (manufacturing) carbon of a GPU model or of a GPU host class without GPUs."""

    class Kind(models.TextChoices):
        GPU = "gpu", "GPU"
        HOST = "host", "Host without GPUs"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=200)
    embodied_kgco2e = models.FloatField()
    min_kgco2e = models.FloatField(null=True, blank=True)
    max_kgco2e = models.FloatField(null=True, blank=True)
    lifetime_years = models.FloatField()
    lifetime_years_min = models.FloatField(null=True, blank=True)
    lifetime_years_max = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=300)
    # Extra NVML device names that mean this model, one per line ("NVIDIA H100 80GB HBM3").
    nvml_names = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="hardwaremodel_unique_kind_name")
        ]

    def __str__(self):
        return self.name

    def clean(self):
        from assessments.organisation.factor_bounds import EMBODIED_BOUNDS, bound_problems

        problems = bound_problems(vars(self), EMBODIED_BOUNDS)
        if problems:
            raise ValidationError(problems)


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    def __str__(self):
        return self.name


class Phase(models.TextChoices):
    DATA_PREPARATION = "data_preparation", "Data preparation"
    TRAINING = "training", "Training"
    FINE_TUNING = "fine_tuning", "Fine-tuning"
    EVALUATION = "evaluation", "Evaluation"
    INFERENCE = "inference", "Inference"


class WorkKind(models.TextChoices):
    """What a unit of work counts. Kinds are never summed together (docs/methodology.md,
    "Work units and their kinds")."""

    REQUESTS = "requests", "Requests"
    INPUT_TOKENS = "input_tokens", "Input tokens"
    OUTPUT_TOKENS = "output_tokens", "Output tokens"
    # The project's own unit (samples, images, ...), posted by hand.
    OTHER = "other", "Other (the project's unit)"


class WorkSource(models.TextChoices):
    POSTED = "posted", "Posted"
    MEASURED = "measured", "Measured (serving engine counters)"


class Project(models.Model):
    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="projects")
    phase = models.CharField(max_length=20, choices=Phase.choices, default=Phase.TRAINING)
    work_unit = models.CharField(
        max_length=100, blank=True, help_text='Name of one unit of work, e.g. "inferences".'
    )
    # The kind of work its work_units and SCI count.
    work_kind = models.CharField(max_length=20, choices=WorkKind.choices, default=WorkKind.OTHER)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.name


class Allocation(models.Model):
    """A project's use of some or all devices of a host over [start, end), for untagged samples."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="allocations")
    host = models.ForeignKey(
        "collectors.Host", on_delete=models.CASCADE, related_name="allocations"
    )
    # Null: all of the host's devices. Else a list of device indexes.
    device_indexes = models.JSONField(null=True, blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True, help_text="Exclusive; blank = open-ended.")

    class Meta:
        indexes = [models.Index(fields=["host", "start"])]

    def __str__(self):
        devices = "all" if self.device_indexes is None else self.device_indexes
        return f"{self.project} on {self.host} [{devices}] from {self.start:%Y-%m-%d}"


class AttributionRule(models.Model):
    """Maps jobs (Kubernetes namespace/pod, Slurm account/partition, user) to a project.

    Applied in `position` order to samples that name jobs but no project; the first rule whose
    every glob pattern matches wins (assessments.organisation.attribution).
    """

    position = models.PositiveIntegerField(unique=True)
    match = models.JSONField(help_text='Glob patterns, e.g. {"namespace": "nlp-*"}.')
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rules")
    phase = models.CharField(max_length=20, choices=Phase.choices, blank=True)

    class Meta:
        ordering = ["position"]

    def __str__(self):
        return f"#{self.position} {self.match} -> {self.project}"

    def clean(self):
        from assessments.organisation.attribution import rule_problem

        problem = rule_problem(self.match)
        if problem:
            raise ValidationError({"match": problem})


class WorkRecord(models.Model):
    """Units of useful work a project did over a period (inferences, tokens, samples)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="work_records")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    units = models.FloatField()
    kind = models.CharField(max_length=20, choices=WorkKind.choices, default=WorkKind.OTHER)
    source = models.CharField(max_length=10, choices=WorkSource.choices, default=WorkSource.POSTED)
    # Measured work: the engine's model_name and the job (pod) whose counters it comes from.
    model_name = models.CharField(max_length=200, blank=True)
    job = models.CharField(max_length=300, blank=True)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["project", "period_start"])]
        constraints = [
            # One engine interval is stored once, whichever batch carried it.
            models.UniqueConstraint(
                fields=["project", "kind", "model_name", "job", "period_end"],
                condition=models.Q(source="measured"),
                name="workrecord_measured_once",
            ),
            # The bounds of assessments.organisation.work_bounds that need no clock: whatever
            # writes a record, no unit slip can overflow the sums of the footprint.
            models.CheckConstraint(
                condition=models.Q(units__gte=0, units__lte=1e15),
                name="workrecord_units_range",
                violation_error_message="Units must be between 0 and 1e15.",
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")),
                name="workrecord_period_ordered",
                violation_error_message="The period must not end before it starts.",
            ),
        ]


class UserProfile(models.Model):
    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        ENGINEER = "engineer", "Engineer"
        ADMIN = "admin", "Admin"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    teams = models.ManyToManyField(Team, blank=True, related_name="members")

    def __str__(self):
        return f"{self.user} ({self.role})"


class ApiToken(models.Model):
    """A personal API token, stored only as a keyed digest.

    Its scope limits what it may do on top of its user's role: `read` (the read API) or `work`
    (the read API and recording work units). Tokens made before scopes existed are `read`: a
    leaked old token cannot write, and a client that records work gets a new token.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WORK = "work", "Read and record work units"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    token_prefix = models.CharField(max_length=16, unique=True)
    token_digest = models.CharField(max_length=64)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
