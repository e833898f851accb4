"""Reads for budgets: a scope's figures, each budget's standing and burn-down (docs/watch.md)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from assessments.footprint.scope_figures import scope_figures
from assessments.models import AlertEpisode, Budget, Organisation, Project, Team
from assessments.models.watch import BUDGET_ORDER
from assessments.watch import budget_math
from assessments.watch.scopes import Scope

# Which footprint figure each budget metric limits.
METRIC_FIGURES = {
    Budget.Metric.KGCO2E: "total_kgco2e",
    Budget.Metric.KWH: "facility_energy_kwh",
    Budget.Metric.KWH_IT: "energy_kwh",
    Budget.Metric.COST: "cost",
}
METRIC_UNITS = {
    Budget.Metric.KGCO2E: "kgCO2e",
    Budget.Metric.KWH: "kWh",
    Budget.Metric.KWH_IT: "kWh",
}


def scope_totals(*, scope: Scope, start: datetime, end: datetime) -> dict:
    """The scope's figures over [start, end): the one read of figures that budgets and alerts
    make, the same the read API, the pages and the monthly report show (their ranges aside:
    budgets and alerts compare the figures themselves)."""
    return scope_figures(scope=scope, start=start, end=end, with_ranges=False).as_footprint()


def metric_unit(metric: str) -> str:
    return METRIC_UNITS.get(metric) or Organisation.get().currency


@dataclass(frozen=True)
class BudgetView:
    budget: Budget
    period_start: datetime
    period_end: datetime
    as_of: datetime
    unit: str
    standing: budget_math.BudgetStanding


def budget_scope(budget: Budget) -> Scope:
    return Scope(team=budget.team, project=budget.project)


def now() -> datetime:
    """The moment budgets are seen at; one place, so tests can fix it."""
    return timezone.now()


def budget_view(
    budget: Budget, *, as_of: datetime | None = None, within: datetime | None = None
) -> BudgetView:
    """Used so far, forecast with its range, and status of the budget, as seen at `as_of`
    (default now), for its period containing `within` (default as_of). Once that period has
    ended, it is seen at its end: used is the actual, the forecast equals it."""
    as_of = (as_of or now()).astimezone(UTC)
    period_start, period_end = budget_math.period_bounds(budget.period, within or as_of)
    as_of = min(as_of, period_end)
    figure = METRIC_FIGURES[budget.metric]
    scope = budget_scope(budget)
    used = (
        scope_totals(scope=scope, start=period_start, end=as_of)[figure]
        if (as_of > period_start)
        else 0.0
    )
    first, last = budget_math.run_rate_days(as_of)
    daily = []
    day = first
    while day < last:
        daily.append(scope_totals(scope=scope, start=day, end=day + timedelta(days=1))[figure])
        day += timedelta(days=1)
    standing = budget_math.budget_standing(
        limit=budget.limit,
        used=used,
        daily_totals=daily,
        days_remaining=budget_math.days_left(as_of, period_end),
    )
    return BudgetView(budget, period_start, period_end, as_of, metric_unit(budget.metric), standing)


def budget_list(*, team: Team | None = None, project: Project | None = None):
    """Budgets, the organisation's first, then by team and project; for a team its own and its
    projects'; for a project its own."""
    budgets = Budget.objects.select_related("team", "project", "project__team")
    if project is not None:
        budgets = budgets.filter(project=project)
    elif team is not None:
        budgets = budgets.filter(Q(team=team) | Q(project__team=team))
    return budgets.order_by(*BUDGET_ORDER)


def budget_burndown(view: BudgetView) -> list[dict]:
    """What is left of the budget at the end of each day of the period so far, and the
    forecast to the period's end: rows {"day", "remaining"} for the chart."""
    budget = view.budget
    figure = METRIC_FIGURES[budget.metric]
    scope = budget_scope(budget)
    rows = [{"moment": view.period_start, "remaining": budget.limit}]
    day = view.period_start
    used = 0.0
    while day + timedelta(days=1) <= view.as_of:
        used += scope_totals(scope=scope, start=day, end=day + timedelta(days=1))[figure]
        day += timedelta(days=1)
        rows.append({"moment": day, "remaining": budget.limit - used})
    if day < view.as_of:
        rows.append({"moment": view.as_of, "remaining": budget.limit - view.standing.used})
    return rows


def budgets_of_month(*, month_start: datetime, month_end: datetime, team: Team | None) -> list:
    """The budgets a monthly report shows, each for its period containing the month, seen at
    the month's end (or now, for the month under way): the organisation's report all of them,
    a team's report the team's and its projects'."""
    budgets = budget_list(team=team) if team is not None else budget_list()
    as_of = min(now(), month_end)
    return [budget_view(budget, as_of=as_of, within=month_start) for budget in budgets]


def alert_episodes(*, status: str | None = None, team: Team | None = None):
    """Alerts, newest first; status "firing" (open) or "resolved"; for a team, the rules on the
    team or its projects."""
    episodes = AlertEpisode.objects.select_related(
        "rule", "rule__team", "rule__project", "rule__project__team", "acknowledged_by"
    )
    if status == "firing":
        episodes = episodes.filter(resolved_at__isnull=True)
    elif status == "resolved":
        episodes = episodes.filter(resolved_at__isnull=False)
    if team is not None:
        episodes = episodes.filter(Q(rule__team=team) | Q(rule__project__team=team))
    return episodes.order_by("-started_at", "-pk")
