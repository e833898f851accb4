"""Writes of budgets and alerts (docs/watch.md)."""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from assessments.models import AlertEpisode, AlertRule, Budget, Project, Team
from assessments.watch import alert_math
from assessments.watch.alert_readings import rule_reading


class BudgetError(ValueError):
    pass


def budget_save(
    *,
    budget: Budget | None = None,
    team: Team | None,
    project: Project | None,
    metric: str,
    period: str,
    limit: float,
) -> Budget:
    """Create a budget, or change `budget`; BudgetError when the scope already has a budget of
    this metric and period."""
    if team is not None and project is not None:
        raise BudgetError("A budget is for the organisation, one team or one project.")
    budget = budget or Budget()
    budget.team, budget.project = team, project
    budget.metric, budget.period, budget.limit = metric, period, limit
    try:
        with transaction.atomic():
            budget.save()
    except IntegrityError:
        raise BudgetError(
            f"{budget.scope} already has a {metric} budget per {period}: change that one."
        ) from None
    return budget


def budget_delete(*, budget: Budget) -> None:
    budget.delete()


# --- Alerts ------------------------------------------------------------------------------------


# Cheap to read and worth knowing within the minute: evaluated after rollups too.
FAST_ALERT_KINDS = (
    AlertRule.Kind.BUDGET_EXCEEDED,
    AlertRule.Kind.HOST_SILENT,
    AlertRule.Kind.ROLLUP_LAG,
)


@dataclass(frozen=True)
class AlertChange:
    episode: AlertEpisode
    event: str  # "firing" | "resolved"


def alerts_evaluate(*, now: datetime | None = None, kinds=None) -> list[AlertChange]:
    """Evaluate every enabled rule (or those of `kinds`) now: open an episode for each rule
    whose value passed its threshold, resolve the open ones whose value fell back below it
    (alert_math.transition). Returns what changed, for the notifications."""
    now = now or timezone.now()
    rules = AlertRule.objects.filter(enabled=True).select_related("team", "project")
    if kinds is not None:
        rules = rules.filter(kind__in=kinds)
    changes = []
    for rule in rules:
        change = _rule_evaluate(rule, now=now)
        if change is not None:
            changes.append(change)
    return changes


def _rule_evaluate(rule: AlertRule, *, now: datetime) -> AlertChange | None:
    reading = rule_reading(rule, now=now)
    with transaction.atomic():
        episode = (
            AlertEpisode.objects.select_for_update()
            .filter(rule=rule, resolved_at__isnull=True)
            .first()
        )
        step = alert_math.transition(
            open_episode=episode is not None, value=reading.value, threshold=rule.threshold
        )
        if step == "fire":
            try:
                with transaction.atomic():
                    episode = AlertEpisode.objects.create(
                        rule=rule,
                        started_at=now,
                        value=reading.value,
                        last_value=reading.value,
                        threshold=rule.threshold,
                        summary=reading.summary,
                        began_on=reading.began_on,
                    )
            except IntegrityError:
                # Another evaluation opened this rule's episode meanwhile: that one stands.
                return None
            return AlertChange(episode, "firing")
        if episode is None:
            return None
        episode.last_value = reading.value
        if step == "resolve":
            episode.resolved_at = now
            episode.save(update_fields=["last_value", "resolved_at"])
            return AlertChange(episode, "resolved")
        episode.save(update_fields=["last_value"])
        return None


def alert_acknowledge(*, episode: AlertEpisode, user, note: str) -> AlertEpisode:
    """Someone looks after it: who, when and their note (firing or resolved alike)."""
    episode.acknowledged_at = timezone.now()
    episode.acknowledged_by = user
    episode.acknowledgement_note = note.strip()
    episode.save(update_fields=["acknowledged_at", "acknowledged_by", "acknowledgement_note"])
    return episode
