"""Budget pages: the list everyone signed in sees, the forms, the burn-down chart JSON."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from assessments import permissions
from assessments.dashboards import charts
from assessments.dashboards.chart_json import CHART_CACHE_SECONDS
from assessments.models import Budget
from assessments.watch import selectors
from assessments.watch.forms import BudgetForm, scope_choices
from assessments.watch.services import BudgetError, budget_delete, budget_save


def budget_rows(budgets, user) -> list[dict]:
    """Each budget's standing, with whether the user may change it (for the templates)."""
    return [
        {
            "view": selectors.budget_view(budget),
            "can_edit": permissions.can_edit_budget(user, team=budget.team, project=budget.project),
        }
        for budget in budgets
    ]


@login_required
def budget_list(request):
    return render(
        request,
        "assessments/budgets.html",
        {
            "rows": budget_rows(selectors.budget_list(), request.user),
            "can_add": bool(scope_choices(request.user)),
        },
    )


def _check_may_edit(user, scope) -> None:
    if not permissions.can_edit_budget(user, team=scope.team, project=scope.project):
        raise PermissionDenied(
            "Admins set the organisation's and teams' budgets; engineers their own teams' "
            "projects' budgets."
        )


def _form_page(request, form, budget=None):
    if request.method == "POST" and form.is_valid():
        scope = form.cleaned_data["scope"]
        _check_may_edit(request.user, scope)
        try:
            budget = budget_save(
                budget=budget,
                team=scope.team,
                project=scope.project,
                metric=form.cleaned_data["metric"],
                period=form.cleaned_data["period"],
                limit=form.cleaned_data["limit"],
            )
        except BudgetError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Budget saved: {budget}.")
            return redirect("budget_list")
    status = 400 if request.method == "POST" else 200
    title = "Change budget" if budget else "New budget"
    return render(
        request, "assessments/budget_form.html", {"form": form, "title": title}, status=status
    )


@login_required
def budget_create(request):
    if not scope_choices(request.user):
        raise PermissionDenied("Only admins and engineers of a team with projects set budgets.")
    return _form_page(request, BudgetForm(request.POST or None, user=request.user))


@login_required
def budget_edit(request, pk: int):
    budget = get_object_or_404(Budget.objects.select_related("team", "project__team"), pk=pk)
    _check_may_edit(request.user, selectors.budget_scope(budget))
    form = BudgetForm(
        request.POST or None, user=request.user, initial=BudgetForm.initial_for(budget)
    )
    return _form_page(request, form, budget)


@login_required
@require_POST
def budget_remove(request, pk: int):
    budget = get_object_or_404(Budget.objects.select_related("team", "project__team"), pk=pk)
    _check_may_edit(request.user, selectors.budget_scope(budget))
    budget_delete(budget=budget)
    messages.success(request, f"Budget removed: {budget}.")
    return redirect("budget_list")


@login_required
def budget_chart(request, pk: int):
    budget = get_object_or_404(Budget.objects.select_related("team", "project"), pk=pk)
    key = f"chart:budget:{budget.pk}:{budget.metric}:{budget.period}:{budget.limit!r}"
    payload = cache.get(key)
    if payload is None:
        payload = charts.figure_json(_burndown_figure(budget))
        cache.set(key, payload, CHART_CACHE_SECONDS)
    return JsonResponse(payload)


def _burndown_figure(budget: Budget):
    view = selectors.budget_view(budget)
    forecast = view.standing.forecast
    return charts.budget_burndown_figure(
        selectors.budget_burndown(view),
        title=f"{budget.get_metric_display()} budget per {budget.period}",
        unit=view.unit,
        limit=budget.limit,
        period_start=view.period_start,
        period_end=view.period_end,
        forecast={"value": forecast.value, "low": forecast.low, "high": forecast.high},
    )
