"""Watching the figures between reports: budgets (docs/watch.md)."""

import re

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
