"""Read API of the decisions area: optimisations with their return, and recommendations.

Thin views: a selector in assessments.decisions.selectors computes, a pydantic model serialises. The
ROI and recommendations pages show the very same OptimisationReturn and Recommendation values.
"""

from datetime import date, datetime
from typing import Literal

from django.http import JsonResponse
from django.views.decorators.http import require_GET
from pydantic import BaseModel, Field

from assessments.api_auth import api_login_required, json_error
from assessments.decisions import selectors
from assessments.decisions.break_even import BreakEven, Outcome
from assessments.decisions.roi import Range, WindowMeasure
from assessments.decisions.version_break_even import VersionBreakEven
from assessments.models import Optimisation, Organisation, Project, Recommendation, Technique
from greenai_site.openapi import Query, api_operation

MAX_ID = 2**63 - 1


def _values(choices) -> tuple[str, ...]:
    return tuple(choices.values)


STATUSES = {
    401: "Not logged in, or bad/revoked token.",
    405: "Method not allowed (the Allow header names GET).",
}


class Window(BaseModel):
    start: date
    end: date = Field(description="Exclusive.")
    days_elapsed: int = Field(description="Days of the window before today.")
    days_with_units: int
    units: float
    facility_energy_kwh_per_unit: float | None = Field(
        description="Facility kWh (IT x PUE) per unit."
    )
    kgco2e_per_unit: float | None = Field(description="Operational + embodied kgCO2e per unit.")
    cost_per_unit: float | None
    coverage: float | None = Field(description="Share of expected samples present, 0..1.")


class Savings(BaseModel):
    facility_energy_kwh: float | None = Field(description="Facility kWh a month.")
    cost: float | None = Field(description="Organisation's currency a month.")
    kgco2e: float | None = Field(description="Operational + embodied kgCO2e a month.")


class Span(BaseModel):
    low: float | None
    high: float | None


class SavingsRange(BaseModel):
    facility_energy_kwh: Span | None
    cost: Span | None
    kgco2e: Span | None


class Investment(BaseModel):
    engineering_hours: float
    hourly_rate: float
    other_costs: float
    total: float
    currency: str


class BeforeAfter(BaseModel):
    before: float | None
    after: float | None


class Quality(BaseModel):
    latency_p50_ms: BeforeAfter
    latency_p95_ms: BeforeAfter
    metric: str
    value: BeforeAfter


class Estimate(BaseModel):
    """What-if of a planned (or not yet measurable) optimisation; indicative only."""

    technique_range: str
    applies_to: str
    source: str
    note: str
    monthly_savings_low: Savings
    monthly_savings_high: Savings
    payback_months: Span | None
    net_return_3y: Span


class BreakEvenOut(BaseModel):
    one_off: float = Field(description="What is to be paid back (in the unit of its side).")
    saving_per_request: float | None = Field(
        description="Parent's serving per request - the new version's; null: not measured."
    )
    requests_to_break_even: float | None = Field(
        description="Requests of the new version, from its first, that repay the one-off; "
        "null: never (no saving, or a negative one)."
    )
    days_left: float | None = Field(description="From as_of at the current volume; null: no date.")
    date_paid_back: date | None = Field(
        description="The UTC day by whose end it has paid back (as_of when already paid "
        "back); null: never, no volume, or past the calendar."
    )
    outcome: Literal[
        Outcome.PAID_BACK,
        Outcome.PENDING,
        Outcome.NO_VOLUME,
        Outcome.NEVER,
        Outcome.BEYOND_CALENDAR,
    ]


class VersionBreakEvenOut(BaseModel):
    version: str = Field(description="The version the optimisation produced: 'model version'.")
    parent: str | None
    as_of: date = Field(description="The first UTC day not counted (today).")
    currency: str
    investment: float = Field(description="Engineering hours x hourly rate + other costs.")
    one_off_cost: float = Field(description="Measured cost of producing the version.")
    one_off_facility_energy_kwh: float
    one_off_kgco2e: float = Field(description="Measured footprint of producing the version.")
    parent_window_start: date | None = Field(
        description="The parent's per-request figures are of [start, end): the 30 days before "
        "the new version was first served."
    )
    parent_window_end: date | None
    parent_cost_per_request: float | None
    parent_kgco2e_per_request: float | None
    cost_per_request: float | None = Field(
        description="The new version's, from its first serving day to as_of."
    )
    kgco2e_per_request: float | None = Field(
        description="The new version's, from its first serving day to as_of."
    )
    requests_last_30_days: float
    requests_served: float = Field(description="Requests of the new version up to as_of.")
    requests_per_day: float = Field(description="The current volume (last 30 days).")
    money: BreakEvenOut = Field(description="One-off = investment + one_off_cost.")
    carbon: BreakEvenOut = Field(description="One-off = one_off_kgco2e, in kgCO2e.")
    notes: list[str]


def _break_even_side(side: BreakEven) -> BreakEvenOut:
    return BreakEvenOut(
        one_off=side.one_off,
        saving_per_request=side.saving_per_request,
        requests_to_break_even=side.requests_to_break_even,
        days_left=side.days_left,
        date_paid_back=side.date,
        outcome=side.outcome,
    )


def break_even_out(result: VersionBreakEven | None, currency: str) -> VersionBreakEvenOut | None:
    if result is None:
        return None
    window = result.parent_window
    return VersionBreakEvenOut(
        version=result.version,
        parent=result.parent,
        as_of=result.as_of,
        currency=currency,
        investment=result.investment,
        one_off_cost=result.one_off_cost,
        one_off_facility_energy_kwh=result.one_off_energy_kwh,
        one_off_kgco2e=result.one_off_kgco2e,
        parent_window_start=window[0] if window else None,
        parent_window_end=window[1] if window else None,
        parent_cost_per_request=result.parent_cost_per_request,
        parent_kgco2e_per_request=result.parent_kgco2e_per_request,
        cost_per_request=result.cost_per_request,
        kgco2e_per_request=result.kgco2e_per_request,
        requests_last_30_days=result.requests_last_30_days,
        requests_served=result.money.requests_served,
        requests_per_day=result.money.requests_per_day,
        money=_break_even_side(result.money),
        carbon=_break_even_side(result.carbon),
        notes=result.notes,
    )


class OptimisationOut(BaseModel):
    id: int
    project: str
    project_name: str
    work_unit: str
    technique: str
    title: str
    status: str
    applied_on: date | None
    currency: str
    investment: Investment
    baseline: Window | None
    evaluation: Window | None
    monthly_units: float | None
    monthly_units_basis: str | None
    monthly_savings: Savings
    monthly_savings_range: SavingsRange | None = Field(
        description="5-95% range from a bootstrap of daily values (1000 draws, fixed seed)."
    )
    energy_change_pct: float | None
    payback_months: float | None = Field(description="null: never paid back (or not measured).")
    net_return_3y: float | None
    carbon_value_per_month: float | None = Field(
        description="kgCO2e saved x internal carbon price; null without a carbon price."
    )
    conclusive: bool | None
    warnings: list[str]
    estimate: Estimate | None
    quality: Quality
    break_even: VersionBreakEvenOut | None = Field(
        description="Where the optimisation produced a version of a model: when its one-off "
        "pays back at the current volume, in money and in carbon; null otherwise."
    )


class OptimisationList(BaseModel):
    count: int
    optimisations: list[OptimisationOut]


class RecommendationOut(BaseModel):
    id: int
    kind: str
    target: str
    title: str
    action: str
    evidence: dict
    period_start: datetime
    period_end: datetime
    estimated_monthly_savings: Savings
    currency: str
    confidence: str
    status: str
    dismissed_reason: str
    project: str | None
    optimisation_id: int | None


class RecommendationList(BaseModel):
    count: int
    recommendations: list[RecommendationOut]


# --- Serialisation ----------------------------------------------------------------------------


def _window(window: WindowMeasure | None) -> Window | None:
    if window is None:
        return None
    return Window(
        start=window.start,
        end=window.end,
        days_elapsed=window.days_elapsed,
        days_with_units=window.days_with_units,
        units=window.units,
        facility_energy_kwh_per_unit=window.facility_energy_kwh_per_unit,
        kgco2e_per_unit=window.kgco2e_per_unit,
        cost_per_unit=window.cost_per_unit,
        coverage=window.coverage,
    )


def _span(value: Range | None) -> Span | None:
    return None if value is None else Span(low=value.low, high=value.high)


def optimisation_out(result: selectors.OptimisationReturn) -> OptimisationOut:
    optimisation = result.optimisation
    measured = result.measured
    estimate = None
    if result.estimate is not None:
        what_if = result.estimate
        estimate = Estimate(
            technique_range=what_if.saving.label,
            applies_to=what_if.saving.applies_to,
            source=what_if.saving.source,
            note=what_if.saving.note,
            monthly_savings_low=Savings(
                facility_energy_kwh=what_if.monthly_facility_energy_kwh.low,
                cost=what_if.monthly_cost.low,
                kgco2e=what_if.monthly_kgco2e.low,
            ),
            monthly_savings_high=Savings(
                facility_energy_kwh=what_if.monthly_facility_energy_kwh.high,
                cost=what_if.monthly_cost.high,
                kgco2e=what_if.monthly_kgco2e.high,
            ),
            payback_months=_span(what_if.payback_months),
            net_return_3y=_span(what_if.net_return_3y),
        )
    ranges = None
    if measured is not None and measured.facility_energy_kwh_range is not None:
        ranges = SavingsRange(
            facility_energy_kwh=_span(measured.facility_energy_kwh_range),
            cost=_span(measured.cost_range),
            kgco2e=_span(measured.kgco2e_range),
        )
    return OptimisationOut(
        id=optimisation.pk,
        project=optimisation.project.slug,
        project_name=optimisation.project.name,
        work_unit=optimisation.project.work_unit,
        technique=optimisation.technique,
        title=optimisation.title,
        status=optimisation.status,
        applied_on=optimisation.applied_on,
        currency=result.currency,
        investment=Investment(
            engineering_hours=optimisation.engineering_hours,
            hourly_rate=result.hourly_rate,
            other_costs=optimisation.other_costs,
            total=result.investment,
            currency=result.currency,
        ),
        baseline=_window(measured.baseline if measured else None),
        evaluation=_window(measured.evaluation if measured else None),
        monthly_units=measured.monthly_units if measured else None,
        monthly_units_basis=measured.monthly_units_basis if measured else None,
        monthly_savings=Savings(
            facility_energy_kwh=result.monthly_facility_energy_kwh,
            cost=result.monthly_cost,
            kgco2e=result.monthly_kgco2e,
        ),
        monthly_savings_range=ranges,
        energy_change_pct=measured.energy_change_pct if measured else None,
        payback_months=result.payback_months,
        net_return_3y=result.net_return_3y,
        carbon_value_per_month=measured.carbon_value_per_month if measured else None,
        conclusive=measured.conclusive if measured else None,
        warnings=(measured.warnings if measured else []) + result.notes,
        estimate=estimate,
        quality=Quality(
            latency_p50_ms=BeforeAfter(
                before=optimisation.latency_p50_ms_before, after=optimisation.latency_p50_ms_after
            ),
            latency_p95_ms=BeforeAfter(
                before=optimisation.latency_p95_ms_before, after=optimisation.latency_p95_ms_after
            ),
            metric=optimisation.quality_metric,
            value=BeforeAfter(before=optimisation.quality_before, after=optimisation.quality_after),
        ),
        break_even=break_even_out(result.break_even, result.currency),
    )


def recommendation_out(recommendation: Recommendation, currency: str) -> RecommendationOut:
    return RecommendationOut(
        id=recommendation.pk,
        kind=recommendation.kind,
        target=recommendation.target,
        title=recommendation.title,
        action=recommendation.action,
        evidence=recommendation.evidence,
        period_start=recommendation.period_start,
        period_end=recommendation.period_end,
        estimated_monthly_savings=Savings(
            facility_energy_kwh=recommendation.monthly_facility_energy_kwh,
            cost=recommendation.monthly_cost,
            kgco2e=recommendation.monthly_kgco2e,
        ),
        currency=currency,
        confidence=recommendation.confidence,
        status=recommendation.status,
        dismissed_reason=recommendation.dismissed_reason,
        project=recommendation.project.slug if recommendation.project else None,
        optimisation_id=recommendation.optimisation_id,
    )


class BadFilter(ValueError):
    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


def _choice(request, name: str, choices) -> str | None:
    # Absent means no filter; present must name a value of the schema's enum, so an empty value
    # (`?status=`) is refused like any other unknown one rather than read as "all".
    value = request.GET.get(name)
    if value is not None and value not in choices:
        raise BadFilter(
            name,
            f"Query parameter '{name}' must be one of {', '.join(sorted(choices))}; got {value!r}.",
        )
    return value


# --- Views -------------------------------------------------------------------------------------


@api_operation(
    method="GET",
    summary="Optimisations with their investment, measured return (or what-if estimate)",
    tag="decisions",
    query={
        "project": Query("Only this project (its slug); optional."),
        "status": Query(
            "Only optimisations in this state; optional.", enum=_values(Optimisation.Status)
        ),
        "technique": Query("Only this technique; optional.", enum=_values(Technique)),
    },
    response=OptimisationList,
    statuses={
        **STATUSES,
        400: "Bad filter value (an empty one included), or a control character in a query "
        "parameter.",
        404: "Unknown project.",
    },
)
@api_login_required
@require_GET
def optimisation_list(request):
    try:
        status = _choice(request, "status", Optimisation.Status.values)
        technique = _choice(request, "technique", Technique.values)
    except BadFilter as exc:
        return json_error(400, str(exc), [{"field": exc.name, "message": "not one of the values"}])
    project = None
    if request.GET.get("project"):
        project = Project.objects.filter(slug=request.GET["project"]).first()
        if project is None:
            return json_error(404, f"No project with slug {request.GET['project']!r}.")
    results = selectors.optimisation_returns(project=project)
    results = [
        r
        for r in results
        if (status is None or r.optimisation.status == status)
        and (technique is None or r.optimisation.technique == technique)
    ]
    body = OptimisationList(
        count=len(results), optimisations=[optimisation_out(r) for r in results]
    )
    return JsonResponse(body.model_dump(mode="json"))


@api_operation(
    method="GET",
    summary="One optimisation with its investment, measured return (or what-if estimate)",
    tag="decisions",
    response=OptimisationOut,
    statuses={**STATUSES, 404: "Unknown optimisation."},
)
@api_login_required
@require_GET
def optimisation_detail(request, pk: int):
    # An id past the database's integer range names no optimisation (and would not fit a query).
    optimisation = None
    if pk <= MAX_ID:
        optimisation = Optimisation.objects.select_related("project").filter(pk=pk).first()
    if optimisation is None:
        return json_error(404, f"No optimisation with id {pk}.")
    result = selectors.optimisation_measure(optimisation=optimisation)
    return JsonResponse(optimisation_out(result).model_dump(mode="json"))


@api_operation(
    method="GET",
    summary="Recommendations computed from the last 30 days of facts, largest saving first",
    tag="decisions",
    query={
        "status": Query(
            "Only this state; optional (default: all).", enum=_values(Recommendation.Status)
        ),
        "kind": Query("Only this kind; optional.", enum=_values(Recommendation.Kind)),
        "order": Query(
            "The saving to sort by (default kgco2e).", enum=tuple(sorted(selectors.ORDERINGS))
        ),
    },
    response=RecommendationList,
    statuses={
        **STATUSES,
        400: "Bad filter value (an empty one included), or a control character in a query "
        "parameter.",
    },
)
@api_login_required
@require_GET
def recommendation_list(request):
    try:
        status = _choice(request, "status", Recommendation.Status.values)
        kind = _choice(request, "kind", Recommendation.Kind.values)
        order = _choice(request, "order", selectors.ORDERINGS) or "kgco2e"
    except BadFilter as exc:
        return json_error(400, str(exc), [{"field": exc.name, "message": "not one of the values"}])
    currency = Organisation.get().currency
    rows = list(selectors.recommendations_list(status=status, kind=kind, order=order))
    body = RecommendationList(
        count=len(rows), recommendations=[recommendation_out(r, currency) for r in rows]
    )
    return JsonResponse(body.model_dump(mode="json"))
