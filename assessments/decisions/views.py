"""Pages of the decisions area: the ROI page, the optimisation form, the recommendations page.

Thin views: assessments.decisions.selectors reads, assessments.decisions.services writes;
assessments.permissions decides who may change what (engineers of the project's team and admins),
checked here on the server.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from assessments import permissions
from assessments.api_auth import api_login_required, json_error
from assessments.dashboards.charts import figure_json
from assessments.decisions import charts as charts_decisions
from assessments.decisions import selectors, services
from assessments.decisions.forms import AcceptForm, DismissForm, OptimisationForm
from assessments.decisions.roi import MIN_COVERAGE, MIN_DAYS_WITH_UNITS
from assessments.decisions.technique_savings import TECHNIQUE_SAVINGS
from assessments.models import Optimisation, Organisation, Project, Recommendation
from assessments.organisation.forms import filters_from


def _editable_projects(user):
    return Project.objects.filter(team__in=permissions.editable_teams(user)).order_by("name")


def _roi_totals(returns) -> dict:
    # Only conclusive measurements count in the totals; the others show with their warnings.
    measured = [r for r in returns if r.has_measured_savings and r.measured.conclusive]
    return {
        "investment": sum(r.investment for r in returns),
        "measured_count": len(measured),
        "facility_energy_kwh": sum(r.monthly_facility_energy_kwh for r in measured),
        "cost": sum(r.monthly_cost for r in measured),
        "kgco2e": sum(r.monthly_kgco2e for r in measured),
    }


def _team(request):
    """The team filter the other pages keep in the URL (?team=), or None for all teams."""
    return filters_from(request.GET)[0].team


@login_required
def roi_page(request):
    team = _team(request)
    returns = selectors.optimisation_returns(team=team)
    organisation = Organisation.get()
    editable = set(permissions.editable_teams(request.user).values_list("pk", flat=True))
    rows = [
        {"result": result, "can_edit": result.project.team_id in editable} for result in returns
    ]
    return render(
        request,
        "assessments/decisions/roi.html",
        {
            "rows": rows,
            "team": team,
            "chart_url": reverse("roi_chart")
            + (f"?{urlencode({'team': request.GET['team']})}" if team else ""),
            "totals": _roi_totals(returns),
            "currency": organisation.currency,
            "carbon_price": organisation.internal_carbon_price_per_t,
            "can_create": bool(editable),
            "techniques": TECHNIQUE_SAVINGS.values(),
            "min_coverage_pct": round(MIN_COVERAGE * 100),
            "min_days": MIN_DAYS_WITH_UNITS,
        },
    )


@api_login_required
def roi_chart(request):
    """Cumulative savings against investment of every measured optimisation (plotly JSON)."""
    if request.method != "GET":
        return json_error(405, "Only GET.")
    series = [
        charts_decisions.cumulative_series(
            label=result.optimisation.title,
            applied_on=result.optimisation.applied_on,
            investment=result.investment,
            points=result.cumulative,
            monthly_saving=result.monthly_cost,
            payback_months=result.payback_months,
        )
        for result in selectors.optimisation_returns(team=_team(request), with_break_even=False)
        if result.measured is not None and result.cumulative
    ]
    figure = charts_decisions.roi_cumulative_figure(series, currency=Organisation.get().currency)
    return JsonResponse(figure_json(figure))


def _optimisation_form_page(request, form, *, optimisation=None):
    return render(
        request,
        "assessments/decisions/optimisation_form.html",
        {"form": form, "optimisation": optimisation},
    )


@login_required
@permissions.engineer_required
def optimisation_create(request):
    return _optimisation_edit(request, None)


@login_required
@permissions.engineer_required
def optimisation_edit(request, pk: int):
    optimisation = get_object_or_404(Optimisation.objects.select_related("project__team"), pk=pk)
    permissions.check_can_edit_team(request.user, optimisation.project.team)
    return _optimisation_edit(request, optimisation)


def _optimisation_edit(request, optimisation):
    organisation = Organisation.get()
    projects = _editable_projects(request.user)
    initial = {}
    if optimisation is None and request.GET.get("project"):
        initial["project"] = projects.filter(slug=request.GET["project"]).first()
    form = OptimisationForm(
        request.POST or None,
        instance=optimisation,
        initial=initial,
        projects=projects,
        currency=organisation.currency,
        default_rate=organisation.engineer_hourly_rate,
    )
    if request.method == "POST" and form.is_valid():
        project = form.cleaned_data["project"]
        # The form only offers editable projects; checked again in case the list changed.
        permissions.check_can_edit_team(request.user, project.team)
        try:
            if optimisation is None:
                optimisation = services.optimisation_create(
                    project=project, created_by=request.user, **form.service_fields()
                )
            else:
                # The form bound the instance; reload so a refused save leaves no half-edit.
                optimisation = Optimisation.objects.get(pk=optimisation.pk)
                services.optimisation_update(
                    optimisation=optimisation, project=project, **form.service_fields()
                )
        except ValidationError as error:
            for field, texts in error.message_dict.items():
                form.add_error(field if field in form.fields else None, texts)
            return _optimisation_form_page(request, form, optimisation=optimisation)
        messages.success(request, f"Optimisation '{optimisation.title}' saved.")
        return redirect(f"{reverse('roi')}#optimisation-{optimisation.pk}")
    return _optimisation_form_page(request, form, optimisation=optimisation)


@login_required
def recommendations_page(request):
    status = request.GET.get("status", Recommendation.Status.OPEN)
    if status not in Recommendation.Status.values and status != "all":
        status = Recommendation.Status.OPEN
    kind = request.GET.get("kind") or None
    if kind not in Recommendation.Kind.values:
        kind = None
    order = request.GET.get("order", "kgco2e")
    if order not in selectors.ORDERINGS:
        order = "kgco2e"
    team = _team(request)
    recommendations = selectors.recommendations_list(
        status=None if status == "all" else status, kind=kind, order=order, team=team
    )
    editable = set(permissions.editable_teams(request.user).values_list("pk", flat=True))
    projects = _editable_projects(request.user)
    rows = []
    for recommendation in recommendations:
        team_id = recommendation.project.team_id if recommendation.project else None
        can_decide = recommendation.status == Recommendation.Status.OPEN and (
            team_id in editable if team_id else bool(editable)
        )
        rows.append({"recommendation": recommendation, "can_decide": can_decide})
    return render(
        request,
        "assessments/decisions/recommendations.html",
        {
            "rows": rows,
            "team": team,
            "status": status,
            "kind": kind,
            "order": order,
            "kinds": Recommendation.Kind.choices,
            "statuses": Recommendation.Status.choices,
            "currency": Organisation.get().currency,
            "dismiss_form": DismissForm(),
            "accept_projects": projects,
            "counts": selectors.recommendation_counts(),
        },
    )


def _check_can_decide(user, recommendation: Recommendation, project: Project | None) -> None:
    target = project or recommendation.project
    if target is not None:
        permissions.check_can_edit_team(user, target.team)
    elif not permissions.editable_teams(user).exists():
        raise PermissionDenied("Only engineers of a team and admins may decide this.")


@require_POST
@login_required
@permissions.engineer_required
def recommendation_accept(request, pk: int):
    recommendation = get_object_or_404(Recommendation, pk=pk)
    form = AcceptForm(request.POST, projects=_editable_projects(request.user))
    if not form.is_valid():
        messages.error(request, "Choose one of your teams' projects.")
        return redirect("recommendations")
    project = recommendation.project or form.cleaned_data.get("project")
    _check_can_decide(request.user, recommendation, project)
    try:
        optimisation = services.recommendation_accept(
            recommendation=recommendation, user=request.user, project=project
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("recommendations")
    messages.success(
        request,
        f"Accepted: planned optimisation '{optimisation.title}' created. Add its investment "
        "and the day it is applied; it will then be measured.",
    )
    return redirect("optimisation_edit", pk=optimisation.pk)


@require_POST
@login_required
@permissions.engineer_required
def recommendation_dismiss(request, pk: int):
    recommendation = get_object_or_404(Recommendation.objects.select_related("project"), pk=pk)
    _check_can_decide(request.user, recommendation, None)
    form = DismissForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not dismissed: say why this recommendation is dismissed.")
        return redirect("recommendations")
    try:
        services.recommendation_dismiss(
            recommendation=recommendation, user=request.user, reason=form.cleaned_data["reason"]
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("recommendations")
    messages.success(request, f"Dismissed: {recommendation.title}.")
    return redirect("recommendations")
