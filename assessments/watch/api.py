"""Read API of the watch area: budgets with their standing (docs/watch.md)."""

import re
from datetime import date, datetime

from django.http import JsonResponse
from django.views.decorators.http import require_GET
from pydantic import BaseModel, Field

from assessments.api_auth import api_login_required, json_error
from assessments.models import Team
from assessments.watch import selectors
from assessments.watch.scopes import ScopeError, scope_resolve
from greenai_site.openapi import Query, api_operation

# The scope rule of assessments.models.watch.SCOPE_PATTERN as the schema states it; the API
# takes the value exactly (no white space around it), as the schema says.
SCOPE_QUERY_PATTERN = r"^(organisation|team:[-a-zA-Z0-9_]+|project:[-a-zA-Z0-9_]+)$"


class ForecastOut(BaseModel):
    value: float = Field(description="used + run-rate × days left.")
    low: float = Field(description="used + smallest of the run-rate days × days left.")
    high: float = Field(description="used + largest of the run-rate days × days left.")


class BudgetOut(BaseModel):
    id: int
    scope: str = Field(description='"organisation", "team:SLUG" or "project:SLUG".')
    metric: str = Field(description="kgco2e | kwh (facility) | kwh_it | cost.")
    period: str = Field(description="month | quarter | year (UTC calendar periods).")
    limit: float
    unit: str = Field(description="kgCO2e, kWh or the organisation's currency.")
    period_start: datetime
    period_end: datetime = Field(description="Exclusive.")
    as_of: datetime = Field(description="When used and forecast were computed.")
    used: float = Field(description="Used from the period's start to as_of.")
    forecast: ForecastOut
    run_rate_per_day: float = Field(description="Mean of the last 7 complete UTC days.")
    days_left: float
    status: str = Field(description="over | at_risk | on_track.")


class BudgetList(BaseModel):
    count: int
    budgets: list[BudgetOut]


def budget_out(view: selectors.BudgetView) -> BudgetOut:
    budget, standing = view.budget, view.standing
    return BudgetOut(
        id=budget.pk,
        scope=budget.scope,
        metric=budget.metric,
        period=budget.period,
        limit=budget.limit,
        unit=view.unit,
        period_start=view.period_start,
        period_end=view.period_end,
        as_of=view.as_of,
        used=standing.used,
        forecast=ForecastOut(
            value=standing.forecast.value,
            low=standing.forecast.low,
            high=standing.forecast.high,
        ),
        run_rate_per_day=standing.run_rate_per_day,
        days_left=standing.days_left,
        status=standing.status,
    )


def _detail(field: str, exc: Exception) -> dict:
    return {"field": field, "message": str(exc)}


@api_operation(
    method="GET",
    summary="Budgets with what is used so far, the forecast with its range, and the status",
    tag="budgets",
    query={
        "scope": Query(
            'Only this scope: "organisation", "team:SLUG" or "project:SLUG".',
            pattern=SCOPE_QUERY_PATTERN,
        ),
        "status": Query("Only this status.", enum=("over", "at_risk", "on_track")),
    },
    response=BudgetList,
    statuses={
        400: "Bad scope or status, or a control character in a query parameter.",
        401: "Not logged in, or bad/revoked token.",
        404: "The scope's team or project does not exist.",
        405: "Method not allowed (the Allow header names GET).",
    },
)
@api_login_required
@require_GET
def budget_list(request):
    budgets = selectors.budget_list()
    if "scope" in request.GET:  # an empty scope is a bad scope, as the schema's pattern says
        text = request.GET["scope"]
        try:
            if not re.fullmatch(SCOPE_QUERY_PATTERN, text):
                raise ScopeError(
                    f'must be "organisation", "team:SLUG" or "project:SLUG", got {text!r}'
                )
        except ScopeError as exc:
            return json_error(400, f"Query parameter 'scope' {exc}.", [_detail("scope", exc)])
        try:
            scope = scope_resolve(text)
        except ScopeError as exc:
            return json_error(404, f"Query parameter 'scope': {exc}.", [_detail("scope", exc)])
        budgets = budgets.filter(team=scope.team, project=scope.project)
    # An empty value is no status either: a 400, as the schema's enum says.
    status = request.GET.get("status")
    if status is not None and status not in ("over", "at_risk", "on_track"):
        return json_error(
            400,
            f"Query parameter 'status' must be one of at_risk, on_track, over; got {status!r}.",
            [{"field": "status", "message": "unknown status"}],
        )
    views = [selectors.budget_view(budget) for budget in budgets]
    rows = [budget_out(v) for v in views if status is None or v.standing.status == status]
    return JsonResponse(BudgetList(count=len(rows), budgets=rows).model_dump(mode="json"))


class AlertOut(BaseModel):
    id: int
    kind: str
    scope: str
    status: str = Field(description="firing | resolved.")
    summary: str
    value: float = Field(description="The value that fired it.")
    last_value: float | None = Field(description="The latest value evaluated.")
    threshold: float
    started_at: datetime
    resolved_at: datetime | None
    began_on: date | None = Field(description="sci_regression: the day the regression began.")
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledgement_note: str


class AlertList(BaseModel):
    count: int
    alerts: list[AlertOut]


@api_operation(
    method="GET",
    summary="Alerts (episodes of the alert rules), newest first",
    tag="alerts",
    query={
        "status": Query("Only firing or only resolved alerts.", enum=("firing", "resolved")),
        "team": Query("Only the rules on this team (its slug) or its projects."),
    },
    response=AlertList,
    statuses={
        400: "Bad status, or a control character in a query parameter.",
        401: "Not logged in, or bad/revoked token.",
        404: "Unknown team.",
        405: "Method not allowed (the Allow header names GET).",
    },
)
@api_login_required
@require_GET
def alert_list(request):
    # An empty value is no status either: a 400, as the schema's enum says.
    status = request.GET.get("status")
    if status is not None and status not in ("firing", "resolved"):
        return json_error(
            400,
            f"Query parameter 'status' must be firing or resolved; got {status!r}.",
            [{"field": "status", "message": "unknown status"}],
        )
    team = None
    if request.GET.get("team"):
        team = Team.objects.filter(slug=request.GET["team"]).first()
        if team is None:
            return json_error(
                404,
                f"No team with slug {request.GET['team']!r}.",
                [{"field": "team", "message": "unknown team"}],
            )
    episodes = list(selectors.alert_episodes(status=status, team=team)[:1000])
    rows = [
        AlertOut(
            id=e.pk,
            kind=e.rule.kind,
            scope=e.rule.scope,
            status="firing" if e.resolved_at is None else "resolved",
            summary=e.summary,
            value=e.value,
            last_value=e.last_value,
            threshold=e.threshold,
            started_at=e.started_at,
            resolved_at=e.resolved_at,
            began_on=e.began_on,
            acknowledged_at=e.acknowledged_at,
            acknowledged_by=e.acknowledged_by.get_username() if e.acknowledged_by else None,
            acknowledgement_note=e.acknowledgement_note,
        )
        for e in episodes
    ]
    return JsonResponse(AlertList(count=len(rows), alerts=rows).model_dump(mode="json"))
