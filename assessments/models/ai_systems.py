"""AI systems: a model a team owns, its versions, and the projects that produced and serve them
(docs/methodology.md, "AI systems: a version's lifecycle footprint")."""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class AiSystem(models.Model):
    """An AI system (a model, e.g. a chat assistant) owned by one team."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    team = models.ForeignKey(
        "assessments.Team", on_delete=models.PROTECT, related_name="ai_systems"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "AI system"
        ordering = ["name"]

    def __str__(self):
        return self.name


class VersionRelation(models.TextChoices):
    """How a version was made from its parent."""

    FINE_TUNED = "fine_tuned", "Fine-tuned"
    DISTILLED = "distilled", "Distilled"
    QUANTISED = "quantised", "Quantised"
    PRUNED = "pruned", "Pruned"
    RETRAINED = "retrained", "Retrained"


class AiSystemVersion(models.Model):
    """One version of an AI system; the quality and latency are what the team recorded."""

    system = models.ForeignKey(AiSystem, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=50)
    # A version of the same system; PROTECT: a parent's one-off is the child's lineage.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    relation = models.CharField(max_length=12, choices=VersionRelation.choices, blank=True)
    # The serving engine's model_name (WorkRecord.model_name), where one project serves several.
    model_name = models.CharField(max_length=200, blank=True)
    planned_requests = models.PositiveBigIntegerField(null=True, blank=True)
    quality_metric = models.CharField(max_length=100, blank=True)
    quality_value = models.FloatField(null=True, blank=True)
    latency_p50_ms = models.FloatField(null=True, blank=True)
    latency_p95_ms = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["system", "created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "version"], name="aisystemversion_unique_system_version"
            ),
            models.CheckConstraint(
                condition=~Q(parent=F("pk")), name="aisystemversion_not_own_parent"
            ),
            models.CheckConstraint(
                condition=(Q(latency_p50_ms__isnull=True) | Q(latency_p50_ms__gte=0))
                & (Q(latency_p95_ms__isnull=True) | Q(latency_p95_ms__gte=0)),
                name="aisystemversion_latency_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.system.slug} {self.version}"


class VersionProject(models.Model):
    """A project that produced (trained, distilled, ...) or serves a version over [start, end)."""

    class Role(models.TextChoices):
        PRODUCED_BY = "produced_by", "Produced by"
        SERVED_BY = "served_by", "Served by"

    version = models.ForeignKey(AiSystemVersion, on_delete=models.CASCADE, related_name="windows")
    role = models.CharField(max_length=12, choices=Role.choices)
    project = models.ForeignKey(
        "assessments.Project", on_delete=models.PROTECT, related_name="version_windows"
    )
    start = models.DateTimeField()
    # Exclusive; null: open-ended (serving only: a version's producing work has an end).
    end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["role", "start", "pk"]
        indexes = [models.Index(fields=["project", "role", "start"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__isnull=True) | Q(end__gt=F("start")),
                name="versionproject_ends_after_start",
                violation_error_message="A window must end after it starts.",
            ),
            models.CheckConstraint(
                condition=Q(role="served_by") | Q(end__isnull=False),
                name="versionproject_produced_by_has_end",
                violation_error_message="A producing window must have an end.",
            ),
        ]

    def __str__(self):
        end = f"{self.end:%Y-%m-%d}" if self.end else "open"
        return f"{self.version} {self.role} {self.project} [{self.start:%Y-%m-%d}, {end})"
