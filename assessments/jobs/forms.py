"""The filters of the jobs page and its CSV: the dashboards' period and team, plus a job's
project, user, namespace and AI system (model) version. A bad value is refused naming its
parameter, never replaced."""

from dataclasses import dataclass

from django import forms

from assessments.models import AiSystem, AiSystemVersion, HourlyJobFact, Project
from assessments.organisation.forms import FilterForm, Filters


@dataclass(frozen=True)
class JobFilters:
    period: Filters
    project: Project | None = None
    user: str = ""
    namespace: str = ""
    model: AiSystem | None = None
    version: AiSystemVersion | None = None

    @property
    def versions(self):
        """The versions whose windows the jobs must fall in; None: no such filter."""
        if self.version is not None:
            return [self.version]
        if self.model is not None:
            return self.model.versions.all()
        return None

    def query(self) -> dict[str, str]:
        params = self.period.query()
        if self.project is not None:
            params["project"] = self.project.slug
        if self.user:
            params["user"] = self.user
        if self.namespace:
            params["namespace"] = self.namespace
        if self.model is not None:
            params["model"] = self.model.slug
        if self.version is not None:
            params["version"] = self.version.version
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
    model = forms.ModelChoiceField(
        queryset=AiSystem.objects.order_by("name"),
        required=False,
        to_field_name="slug",
        empty_label="All models",
        help_text="An AI system: only jobs on its versions' producing and serving windows.",
    )
    version = forms.CharField(
        required=False,
        max_length=AiSystemVersion._meta.get_field("version").max_length,
        help_text="One version of the model, e.g. 2.0.",
    )

    def clean(self):
        data = super().clean()
        label, model = data.get("version"), data.get("model")
        if label and "model" not in self.errors:
            if model is None:
                self.add_error("version", "Name the model (AI system) of the version too.")
            else:
                data["version"] = model.versions.filter(version=label).first()
                if data["version"] is None:
                    self.add_error("version", f"{model.slug} has no version {label!r}.")
        else:
            data["version"] = None
        return data

    def job_filters(self) -> JobFilters:
        data = self.cleaned_data
        return JobFilters(
            period=self.filters(),
            project=data.get("project"),
            user=data.get("user") or "",
            namespace=data.get("namespace") or "",
            model=data.get("model"),
            version=data.get("version"),
        )

    def problems(self) -> list[tuple[str, str]]:
        """(parameter, message) for each refused value; '__all__' names the period."""
        return [
            ("start/end" if name == "__all__" else name, message)
            for name, messages in self.errors.items()
            for message in messages
        ]
