"""Writes of budgets (docs/watch.md)."""

from django.db import IntegrityError, transaction

from assessments.models import Budget, Project, Team


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
