"""What each alert kind reads: one value per rule, with a sentence saying what it is.

Budgets, SCI and idle GPUs read the same figures and computations the pages show (the scope's
figures, the budgets' standing, the idle-GPU recommendation's rule); docs/watch.md lists the
kinds and their units.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Q

from assessments.decisions import recommendation_rules
from assessments.decisions.selectors import gpu_device_hours
from assessments.footprint.selectors import rollup_status
from assessments.models import AlertRule, Budget, HourlyProjectFact, Recommendation
from assessments.organisation.services import hosts_of_teams
from assessments.watch import alert_math
from assessments.watch.scopes import Scope
from assessments.watch.selectors import budget_view, scope_totals
from collectors.models import Collector, Host

Kind = AlertRule.Kind


@dataclass(frozen=True)
class Reading:
    value: float | None  # None: nothing to judge
    summary: str
    began_on: date | None = None


def rule_scope(rule: AlertRule) -> Scope:
    return Scope(team=rule.team, project=rule.project)


def rule_reading(rule: AlertRule, *, now: datetime) -> Reading:
    return READERS[rule.kind](rule, rule_scope(rule), now.astimezone(UTC))


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _budgets(rule: AlertRule, scope: Scope, now: datetime, *, forecast: bool) -> Reading:
    budgets = Budget.objects.filter(team=scope.team, project=scope.project).select_related(
        "team", "project"
    )
    worst = None
    for budget in budgets:
        standing = budget_view(budget, as_of=now).standing
        figure = standing.forecast.value if forecast else standing.used
        share = 100 * figure / budget.limit
        if worst is None or share > worst[0]:
            worst = (share, budget, figure)
    if worst is None:
        return Reading(None, f"{scope.text} has no budget.")
    share, budget, figure = worst
    what = "is forecast to use" if forecast else "has used"
    return Reading(
        share,
        f"{scope.text} {what} {figure:,.1f} of its {budget.limit:,.1f} {budget.metric} budget "
        f"per {budget.period} ({share:.0f} %).",
    )


def budget_forecast(rule, scope, now) -> Reading:
    return _budgets(rule, scope, now, forecast=True)


def budget_exceeded(rule, scope, now) -> Reading:
    return _budgets(rule, scope, now, forecast=False)


def sci_regression(rule, scope, now) -> Reading:
    """The last 3 complete days against the 14 before them."""
    today = _midnight(now)
    count = alert_math.SCI_RECENT_DAYS + alert_math.SCI_BASELINE_DAYS
    days = []
    for offset in range(count, 0, -1):
        start = today - timedelta(days=offset)
        figures = scope_totals(scope=scope, start=start, end=start + timedelta(days=1))
        days.append(
            alert_math.DayFigures(start.date(), figures["total_kgco2e"], figures["work_units"])
        )
    result = alert_math.sci_regression(
        days, threshold_pct=rule.threshold, min_units=rule.min_units or 0.0
    )
    if result is None:
        return Reading(None, f"{scope.text}: too little work recorded to compare SCI.")
    return Reading(
        result.change_pct,
        f"{scope.text}: SCI {result.recent_sci:.4g} kgCO2e per unit over the last "
        f"{alert_math.SCI_RECENT_DAYS} days against {result.baseline_sci:.4g} over the "
        f"{alert_math.SCI_BASELINE_DAYS} before ({result.change_pct:+.0f} %), since "
        f"{result.began_on:%-d %b %Y}.",
        result.began_on,
    )


def idle_allocated_gpus(rule, scope, now) -> Reading:
    """Idle GPU-hours over the last 24 whole hours of the GPUs the scope's projects were
    allocated (the idle-GPU recommendation's rule over one day), priced in money and carbon."""
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=1)
    allocated = HourlyProjectFact.objects.filter(
        hour__gte=start, hour__lt=end, project__isnull=False
    )
    if scope.project is not None:
        allocated = allocated.filter(project=scope.project)
    elif scope.team is not None:
        allocated = allocated.filter(team=scope.team)
    devices = set(allocated.values_list("device_id", flat=True).distinct())
    hours = [h for h in gpu_device_hours(start, end) if h.device_id in devices]
    candidates = recommendation_rules.idle_gpus(
        hours, period=recommendation_rules.Period(start, end), min_hours=1
    )
    idle_hours = sum(c.evidence["idle_gpu_hours"] for c in candidates)
    cost = sum(c.evidence["idle_cost"] or 0 for c in candidates)
    carbon = sum(
        (c.evidence["idle_operational_kgco2e"] or 0) + (c.evidence["idle_embodied_kgco2e"] or 0)
        for c in candidates
    )
    return Reading(
        float(idle_hours),
        f"{scope.text}: {idle_hours} idle GPU-hours of allocated GPUs in the last 24 hours "
        f"({carbon:,.2f} kgCO2e, {cost:,.2f} in money).",
    )


def host_silent(rule, scope, now) -> Reading:
    """Minutes since the longest-silent host or collector of the scope last sent anything."""
    hosts = Host.objects.filter(last_seen_at__isnull=False).filter(
        Q(decommissioned__isnull=True) | Q(decommissioned__gt=now.date())
    )
    collectors = Collector.objects.filter(last_seen_at__isnull=False, revoked_at__isnull=True)
    if scope.project is not None:
        hosts = hosts.filter(
            Q(allocations__project=scope.project, allocations__start__lte=now),
            Q(allocations__end__isnull=True) | Q(allocations__end__gt=now),
        ).distinct()
        collectors = collectors.none()
    elif scope.team is not None:
        hosts = hosts.filter(pk__in=hosts_of_teams([scope.team]))
        collectors = collectors.filter(team=scope.team)
    silent = [(now - h.last_seen_at, f"host {h.hostname}") for h in hosts] + [
        (now - c.last_seen_at, f"collector {c.name}") for c in collectors
    ]
    if not silent:
        return Reading(None, f"{scope.text}: no host or collector has reported yet.")
    gap, name = max(silent)
    minutes = gap.total_seconds() / 60
    return Reading(minutes, f"{name} has sent nothing for {minutes:,.0f} minutes.")


def rollup_lag(rule, scope, now) -> Reading:
    minutes = rollup_status()["lag_seconds"] / 60
    return Reading(
        minutes, f"The oldest hour waiting for the rollup is {minutes:,.0f} minutes old."
    )


def recommendation_saving(rule, scope, now) -> Reading:
    """The largest carbon saving a month of an open recommendation for the scope."""
    open_ = Recommendation.objects.filter(status=Recommendation.Status.OPEN)
    if scope.project is not None:
        open_ = open_.filter(project=scope.project)
    elif scope.team is not None:
        open_ = open_.filter(project__team=scope.team)
    best = open_.order_by("-monthly_kgco2e").first()
    if best is None:
        return Reading(None, f"{scope.text}: no open recommendation.")
    return Reading(
        best.monthly_kgco2e,
        f"{best.title}: saves {best.monthly_kgco2e:,.1f} kgCO2e a month.",
    )


READERS = {
    Kind.BUDGET_FORECAST: budget_forecast,
    Kind.BUDGET_EXCEEDED: budget_exceeded,
    Kind.SCI_REGRESSION: sci_regression,
    Kind.IDLE_ALLOCATED_GPUS: idle_allocated_gpus,
    Kind.HOST_SILENT: host_silent,
    Kind.ROLLUP_LAG: rollup_lag,
    Kind.RECOMMENDATION_SAVING: recommendation_saving,
}
