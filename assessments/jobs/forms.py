"""The filters of the jobs page and its CSV: the dashboards' period and team, plus a job's
project, user and namespace. A bad value is refused naming its parameter, never replaced."""

from dataclasses import dataclass

from django import forms

from assessments.models import HourlyJobFact, Project
from assessments.organisation.forms import FilterForm, Filters


@dataclass(frozen=True)
class JobFilters:
    period: Filters
    project: Project | None = None
    user: str = ""
    namespace: str = ""

    def query(self) -> dict[str, str]:
        params = self.period.query()
        if self.project is not None:
            params["project"] = self.project.slug
        if self.user:
            params["user"] = self.user
        if self.namespace:
            params["namespace"] = self.namespace
        return params


def _max_length(name: str) -> int:
    return HourlyJobFact._meta.get_field(name).max_length


class JobFilterForm(FilterForm):
    project = forms.ModelChoiceField(
        queryset=Project.objects.order_by("name"),
        required=False,
        to_field_name="slug",
        empty_label="All projects",
    )
    user = forms.CharField(required=False, max_length=_max_length("user"))
    namespace = forms.CharField(required=False, max_length=_max_length("namespace"))

    def job_filters(self) -> JobFilters:
        data = self.cleaned_data
        return JobFilters(
            period=self.filters(),
            project=data.get("project"),
            user=data.get("user") or "",
            namespace=data.get("namespace") or "",
        )

    def problems(self) -> list[tuple[str, str]]:
        """(parameter, message) for each refused value; '__all__' names the period."""
        return [
            ("start/end" if name == "__all__" else name, message)
            for name, messages in self.errors.items()
            for message in messages
        ]
