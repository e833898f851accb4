"""Forms of the budget pages."""

import math

from django import forms

from assessments import permissions
from assessments.models import Budget, Project, Team
from assessments.watch.scopes import Scope, ScopeError, scope_resolve


def scope_choices(user) -> list[tuple[str, str]]:
    """The scopes whose budgets the user may set (permissions.can_edit_budget)."""
    choices = []
    if permissions.is_admin(user):
        choices.append(("organisation", "Organisation"))
        choices += [(f"team:{t.slug}", f"Team {t.name}") for t in Team.objects.order_by("name")]
    projects = Project.objects.filter(team__in=permissions.editable_teams(user)).order_by("slug")
    choices += [(f"project:{p.slug}", f"Project {p.name}") for p in projects]
    return choices


class BudgetForm(forms.Form):
    scope = forms.ChoiceField()
    metric = forms.ChoiceField(choices=Budget.Metric.choices)
    period = forms.ChoiceField(choices=Budget.Period.choices)
    limit = forms.FloatField(min_value=0, max_value=1e15, help_text="In the metric's unit.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scope"].choices = scope_choices(user)

    def clean_limit(self):
        limit = self.cleaned_data["limit"]
        if not math.isfinite(limit) or limit <= 0:
            raise forms.ValidationError("Must be a number above 0.")
        return limit

    def clean_scope(self) -> Scope:
        try:
            return scope_resolve(self.cleaned_data["scope"])
        except ScopeError as exc:  # removed since the form was shown
            raise forms.ValidationError(str(exc)) from None

    @staticmethod
    def initial_for(budget: Budget) -> dict:
        return {
            "scope": budget.scope,
            "metric": budget.metric,
            "period": budget.period,
            "limit": budget.limit,
        }
