"""Watching the figures between reports: budgets (docs/watch.md)."""

import re
import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce

SCOPE_PATTERN = re.compile(r"^(organisation|team:[-a-zA-Z0-9_]+|project:[-a-zA-Z0-9_]+)$")


class ScopeError(ValueError):
    pass


def scope_parts(text) -> tuple[str, str | None]:
    """A scope as written in the inventory and the API, `organisation`, `team:SLUG` or
    `project:SLUG`, as ("organisation", None), ("team", slug) or ("project", slug) (pure)."""
    if not isinstance(text, str) or not SCOPE_PATTERN.match(text.strip()):
        shown = repr(text) if isinstance(text, str) else type(text).__name__
        raise ScopeError(f'must be "organisation", "team:SLUG" or "project:SLUG", got {shown}')
    kind, _, slug = text.strip().partition(":")
    return kind, slug or None


class Budget(models.Model):
    """A limit on one metric of the organisation, a team or a project per calendar period."""

    class Metric(models.TextChoices):
        KGCO2E = "kgco2e", "Total carbon (kgCO2e)"
        KWH = "kwh", "Facility energy (kWh)"
        KWH_IT = "kwh_it", "IT energy (kWh)"
        COST = "cost", "Cost"

    class Period(models.TextChoices):
        MONTH = "month", "Month"
        QUARTER = "quarter", "Quarter"
        YEAR = "year", "Year"

    # Neither team nor project: the organisation's budget.
    team = models.ForeignKey(
        "assessments.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    project = models.ForeignKey(
        "assessments.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="budgets",
    )
    metric = models.CharField(max_length=8, choices=Metric.choices)
    period = models.CharField(max_length=8, choices=Period.choices)
    limit = models.FloatField(help_text="In the metric's unit (cost: the organisation's currency).")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(team__isnull=True) | Q(project__isnull=True),
                name="budget_one_scope",
            ),
            models.CheckConstraint(
                condition=Q(limit__gt=0, limit__lte=1e15), name="budget_limit_range"
            ),
            models.UniqueConstraint(
                fields=["metric", "period"],
                condition=Q(team__isnull=True, project__isnull=True),
                name="budget_unique_organisation",
            ),
            models.UniqueConstraint(
                fields=["team", "metric", "period"],
                condition=Q(team__isnull=False),
                name="budget_unique_team",
            ),
            models.UniqueConstraint(
                fields=["project", "metric", "period"],
                condition=Q(project__isnull=False),
                name="budget_unique_project",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.metric} per {self.period}: {self.limit:g}"

    @property
    def scope(self) -> str:
        if self.project_id:
            return f"project:{self.project.slug}"
        if self.team_id:
            return f"team:{self.team.slug}"
        return "organisation"


# The organisation's budgets first, then by team, each team's own before its projects'.
BUDGET_ORDER = (
    Coalesce("team__slug", "project__team__slug").asc(nulls_first=True),
    F("project__slug").asc(nulls_first=True),
    "metric",
    "period",
)


class NotificationChannel(models.Model):
    """Where alerts go: e-mail addresses, or a webhook (signed JSON or the Slack form)."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    class Form(models.TextChoices):
        JSON = "json", "Signed JSON"
        SLACK = "slack", "Slack-compatible text"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    url = models.URLField(max_length=2000, blank=True)
    form = models.CharField(max_length=8, choices=Form.choices, default=Form.JSON)
    recipients = models.JSONField(default=list, blank=True, help_text="E-mail addresses.")
    # Fernet token of the webhook's signing secret (assessments.watch.secrets); never shown.
    secret_encrypted = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name


class AlertRule(models.Model):
    """A condition on the organisation's figures, evaluated on a schedule (docs/watch.md)."""

    class Kind(models.TextChoices):
        BUDGET_FORECAST = "budget_forecast", "Budget forecast over the limit"
        BUDGET_EXCEEDED = "budget_exceeded", "Budget exceeded"
        SCI_REGRESSION = "sci_regression", "SCI regression"
        IDLE_ALLOCATED_GPUS = "idle_allocated_gpus", "Allocated GPUs idle"
        HOST_SILENT = "host_silent", "Host silent"
        ROLLUP_LAG = "rollup_lag", "Rollup lag"
        RECOMMENDATION_SAVING = "recommendation_saving", "Recommendation saving"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    team = models.ForeignKey(
        "assessments.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    project = models.ForeignKey(
        "assessments.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    threshold = models.FloatField(help_text="In the kind's unit (docs/watch.md).")
    min_units = models.FloatField(
        null=True, blank=True, help_text="sci_regression: least units of work in each window."
    )
    enabled = models.BooleanField(default=True)
    channels = models.ManyToManyField(NotificationChannel, blank=True, related_name="rules")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(team__isnull=True) | Q(project__isnull=True),
                name="alertrule_one_scope",
            ),
            models.CheckConstraint(
                condition=Q(threshold__gte=0, threshold__lte=1e15), name="alertrule_threshold_range"
            ),
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(team__isnull=True, project__isnull=True),
                name="alertrule_unique_organisation",
            ),
            models.UniqueConstraint(
                fields=["kind", "team"],
                condition=Q(team__isnull=False),
                name="alertrule_unique_team",
            ),
            models.UniqueConstraint(
                fields=["kind", "project"],
                condition=Q(project__isnull=False),
                name="alertrule_unique_project",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.scope}"

    @property
    def scope(self) -> str:
        if self.project_id:
            return f"project:{self.project.slug}"
        if self.team_id:
            return f"team:{self.team.slug}"
        return "organisation"


class AlertEpisode(models.Model):
    """One firing of a rule, from the evaluation that fired it to the one that resolved it.

    At most one open (unresolved) episode per rule: a database constraint, so two evaluations
    running at once cannot open two."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="episodes")
    started_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    value = models.FloatField(help_text="The value that fired it.")
    threshold = models.FloatField()
    last_value = models.FloatField(null=True, blank=True)
    summary = models.TextField()
    began_on = models.DateField(null=True, blank=True, help_text="sci_regression: first day.")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledgement_note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule"],
                condition=Q(resolved_at__isnull=True),
                name="alertepisode_one_open_per_rule",
            ),
        ]
        indexes = [models.Index(fields=["started_at"], name="alertepisode_started")]


class AlertNotification(models.Model):
    """One message about one episode's firing or resolution to one channel. Its delivery_id is
    the `id` every retry carries, so a receiver can drop the repeats of at-least-once delivery.
    """

    class Event(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    episode = models.ForeignKey(AlertEpisode, on_delete=models.CASCADE, related_name="notices")
    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=8, choices=Event.choices)
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    failed_at = models.DateTimeField(null=True, blank=True, help_text="Given up.")
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["episode", "channel", "event"], name="alertnotification_once"
            )
        ]


# Each kind's threshold: its inventory key, default and unit (docs/watch.md).
ALERT_THRESHOLDS = {
    AlertRule.Kind.BUDGET_FORECAST: ("threshold_pct", 100.0, "% of the budget"),
    AlertRule.Kind.BUDGET_EXCEEDED: ("threshold_pct", 100.0, "% of the budget"),
    AlertRule.Kind.SCI_REGRESSION: ("threshold_pct", 20.0, "% above the baseline SCI"),
    AlertRule.Kind.IDLE_ALLOCATED_GPUS: ("gpu_hours", 8.0, "idle GPU-hours a day"),
    AlertRule.Kind.HOST_SILENT: ("minutes", 30.0, "minutes silent"),
    AlertRule.Kind.ROLLUP_LAG: ("minutes", 15.0, "minutes of rollup lag"),
    AlertRule.Kind.RECOMMENDATION_SAVING: ("kgco2e_per_month", 100.0, "kgCO2e a month"),
}
