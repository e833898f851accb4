"""Forms of AI systems: a model, and a version with its windows written one per line
("project-slug 2026-10-01 2026-10-20", the end left out or "open" for an open serving window).
The checks are the services' (assessments.ai_systems.services); the forms only parse."""

from datetime import date

from django import forms

from assessments.footprint.selectors import as_utc_datetime
from assessments.models import AiSystem, AiSystemVersion, Project, VersionRelation

WINDOW_HELP = 'One per line: "project-slug start end" (UTC days, end exclusive{open}).'


class AiSystemForm(forms.Form):
    slug = forms.SlugField(max_length=100)
    name = forms.CharField(max_length=200)
    team = forms.ModelChoiceField(queryset=None)

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams


class VersionForm(forms.Form):
    version = forms.CharField(max_length=50)
    parent = forms.ModelChoiceField(queryset=AiSystemVersion.objects.none(), required=False)
    relation = forms.ChoiceField(choices=[("", "—"), *VersionRelation.choices], required=False)
    model_name = forms.CharField(
        max_length=200, required=False, help_text="The serving engine's model_name."
    )
    planned_requests = forms.IntegerField(min_value=0, max_value=2**63 - 1, required=False)
    quality_metric = forms.CharField(max_length=100, required=False)
    quality_value = forms.FloatField(required=False)
    latency_p50_ms = forms.FloatField(min_value=0, required=False)
    latency_p95_ms = forms.FloatField(min_value=0, required=False)
    produced_by = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=WINDOW_HELP.format(open=""),
    )
    served_by = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=WINDOW_HELP.format(open='; "open" or nothing for an open end'),
    )

    def __init__(self, *args, system: AiSystem, instance: AiSystemVersion | None = None, **kw):
        if instance is not None and "initial" not in kw:
            kw["initial"] = version_initial(instance)
        super().__init__(*args, **kw)
        parents = system.versions.all()
        if instance is not None:
            parents = parents.exclude(pk=instance.pk)
        self.fields["parent"].queryset = parents
        self.fields["parent"].label_from_instance = lambda v: v.version

    def clean_produced_by(self):
        return _windows(self.cleaned_data["produced_by"])

    def clean_served_by(self):
        return _windows(self.cleaned_data["served_by"])

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            name: data[name]
            for name in (
                "version",
                "parent",
                "relation",
                "model_name",
                "planned_requests",
                "quality_metric",
                "quality_value",
                "latency_p50_ms",
                "latency_p95_ms",
                "produced_by",
                "served_by",
            )
        }


def _windows(text: str):
    from assessments.ai_systems.services import ProjectWindow

    windows = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in (2, 3):
            raise forms.ValidationError(
                f'Line {number}: write "project-slug start end", got {line.strip()!r}.'
            )
        project = Project.objects.filter(slug=parts[0]).first()
        if project is None:
            raise forms.ValidationError(f"Line {number}: no project {parts[0]!r}.")
        try:
            start = date.fromisoformat(parts[1])
            end = None
            if len(parts) == 3 and parts[2].lower() != "open":
                end = date.fromisoformat(parts[2])
        except ValueError:
            raise forms.ValidationError(
                f"Line {number}: dates are YYYY-MM-DD, got {line.strip()!r}."
            ) from None
        windows.append(
            ProjectWindow(
                project=project,
                start=as_utc_datetime(start),
                end=as_utc_datetime(end) if end else None,
            )
        )
    return windows


def version_initial(version: AiSystemVersion) -> dict:
    lines = {"produced_by": [], "served_by": []}
    for window in version.windows.select_related("project"):
        end = f"{window.end:%Y-%m-%d}" if window.end else "open"
        lines[window.role].append(f"{window.project.slug} {window.start:%Y-%m-%d} {end}")
    return {
        "version": version.version,
        "parent": version.parent,
        "relation": version.relation,
        "model_name": version.model_name,
        "planned_requests": version.planned_requests,
        "quality_metric": version.quality_metric,
        "quality_value": version.quality_value,
        "latency_p50_ms": version.latency_p50_ms,
        "latency_p95_ms": version.latency_p95_ms,
        "produced_by": "\n".join(lines["produced_by"]),
        "served_by": "\n".join(lines["served_by"]),
    }
