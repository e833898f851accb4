"""Energy that CodeCarbon reported for a project, kept apart from the agent's measurements.

CodeCarbon sends energy per run interval, split into CPU, GPU and RAM, without device
identities; GreenAI keeps those figures as reported (docs/codecarbon.md) and turns them into
hourly facts of their own that the footprint reads beside the agent's (docs/methodology.md,
"Energy reported by CodeCarbon").
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from assessments.models.facts import FootprintMeasures


class CodeCarbonExperiment(models.Model):
    """A CodeCarbon experiment id registered in GreenAI and mapped to a project."""

    experiment_id = models.UUIDField(unique=True)
    project = models.ForeignKey(
        "assessments.Project", on_delete=models.CASCADE, related_name="codecarbon_experiments"
    )
    phase = models.CharField(max_length=20, blank=True, help_text="Blank: the project's phase.")
    # CodeCarbon names no machine, so a site is only ever the one the mapping states.
    site = models.ForeignKey(
        "assessments.Site", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self):
        return f"{self.experiment_id} -> {self.project.slug}"

    @property
    def effective_phase(self) -> str:
        return self.phase or self.project.phase

    @property
    def phase_label(self) -> str:
        from assessments.models.organisation import Phase

        return Phase(self.effective_phase).label


class CodeCarbonRun(models.Model):
    """One run of a CodeCarbon tracker: where it ran and how it measured."""

    class Source(models.TextChoices):
        API = "api", "CodeCarbon API"
        CSV = "csv", "emissions.csv import"

    # The API answers POST /runs with an id it makes; a CSV row carries CodeCarbon's own.
    run_id = models.CharField(max_length=100)
    source = models.CharField(max_length=4, choices=Source.choices)
    experiment = models.ForeignKey(
        CodeCarbonExperiment, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    experiment_ref = models.CharField(
        max_length=100, blank=True, help_text="As CodeCarbon sent it."
    )
    project = models.ForeignKey(
        "assessments.Project", on_delete=models.CASCADE, related_name="codecarbon_runs"
    )
    phase = models.CharField(max_length=20, blank=True)
    site = models.ForeignKey(
        "assessments.Site", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    collector = models.ForeignKey(
        "collectors.Collector", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    tracking_mode = models.CharField(max_length=20, blank=True)
    country_iso_code = models.CharField(max_length=3, blank=True)
    country_name = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    cloud_provider = models.CharField(max_length=50, blank=True)
    cloud_region = models.CharField(max_length=100, blank=True)
    os = models.CharField(max_length=200, blank=True)
    python_version = models.CharField(max_length=30, blank=True)
    codecarbon_version = models.CharField(max_length=30, blank=True)
    cpu_count = models.FloatField(null=True, blank=True)
    cpu_model = models.CharField(max_length=200, blank=True)
    gpu_count = models.FloatField(null=True, blank=True)
    gpu_model = models.CharField(max_length=300, blank=True)
    ram_total_size_gb = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "project", "run_id"], name="ccrun_unique_source_project_run"
            )
        ]

    def __str__(self):
        return f"CodeCarbon run {self.run_id} ({self.project.slug})"


class CodeCarbonEmission(models.Model):
    """One interval of a run as CodeCarbon reported it: energies in kWh over `duration_s`."""

    run = models.ForeignKey(CodeCarbonRun, on_delete=models.CASCADE, related_name="emissions")
    timestamp = models.DateTimeField(help_text="End of the interval (UTC).")
    duration_s = models.FloatField()
    cpu_energy_kwh = models.FloatField(null=True, blank=True)
    gpu_energy_kwh = models.FloatField(null=True, blank=True)
    ram_energy_kwh = models.FloatField(null=True, blank=True)
    # Files of old releases carry only the total; their CPU/GPU/RAM split stays unknown (null).
    energy_kwh = models.FloatField(help_text="CodeCarbon's energy_consumed.")
    cpu_power_w = models.FloatField(null=True, blank=True)
    gpu_power_w = models.FloatField(null=True, blank=True)
    ram_power_w = models.FloatField(null=True, blank=True)
    cpu_utilization_pct = models.FloatField(null=True, blank=True)
    gpu_utilization_pct = models.FloatField(null=True, blank=True)
    ram_utilization_pct = models.FloatField(null=True, blank=True)
    # CodeCarbon's own carbon figure, kept for reference; GreenAI computes its own.
    reported_emissions_kg = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "timestamp"], name="ccemission_unique_run_ts")
        ]


class HourlyCodeCarbonFact(FootprintMeasures):
    """A run's reported energy within one UTC hour, with the factors GreenAI applied.

    Whether it counts is decided where it is read: an hour in which the agent measured the
    project is the agent's, and this figure is shown as overlap (docs/methodology.md).
    """

    run = models.ForeignKey(CodeCarbonRun, on_delete=models.CASCADE, related_name="hourly_facts")
    hour = models.DateTimeField()
    # Denormalised from the run so footprint reads filter without joins.
    project = models.ForeignKey("assessments.Project", on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(
        "assessments.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    site = models.ForeignKey(
        "assessments.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    phase = models.CharField(max_length=20, blank=True)
    seconds = models.FloatField(default=0)
    pue = models.FloatField()
    grid_zone = models.CharField(max_length=64, blank=True)
    grid_gco2e_per_kwh = models.FloatField()
    grid_source = models.CharField(max_length=300)
    price_per_kwh = models.FloatField()
    factor_notes = models.JSONField(default=list, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "hour"], name="ccfact_unique_run_hour")
        ]
        indexes = [models.Index(fields=["project", "hour"], name="ccfact_project_hour")]
