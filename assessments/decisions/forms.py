"""Forms of the decisions area: the optimisation form and the recommendation decisions."""

from django import forms

from assessments.models import AiSystemVersion, Optimisation, Project

OPTIMISATION_FIELDS = [
    "project",
    "technique",
    "title",
    "description",
    "status",
    "applied_on",
    "engineering_hours",
    "hourly_rate",
    "other_costs",
    "baseline_days",
    "evaluation_days",
    "latency_p50_ms_before",
    "latency_p50_ms_after",
    "latency_p95_ms_before",
    "latency_p95_ms_after",
    "quality_metric",
    "quality_before",
    "quality_after",
    "version",
]


class OptimisationForm(forms.ModelForm):
    """Checks the shape of the input; assessments.decisions.services validates the rules and
    saves."""

    class Meta:
        model = Optimisation
        fields = OPTIMISATION_FIELDS
        widgets = {
            "applied_on": forms.DateInput(attrs={"type": "date"}),
            "description": forms.Textarea(attrs={"rows": 3}),
        }
        labels = {
            "applied_on": "Applied on (UTC day)",
            "engineering_hours": "Engineering hours (h)",
            "hourly_rate": "Hourly rate (per hour)",
            "other_costs": "Other costs",
            "baseline_days": "Baseline window (days before)",
            "evaluation_days": "Evaluation window (days after)",
            "latency_p50_ms_before": "Latency p50 before (ms)",
            "latency_p50_ms_after": "Latency p50 after (ms)",
            "latency_p95_ms_before": "Latency p95 before (ms)",
            "latency_p95_ms_after": "Latency p95 after (ms)",
        }

    def __init__(self, *args, projects, currency: str, default_rate: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["title"].required = False
        self.fields["title"].help_text = "Blank: the technique and the project."
        self.fields["project"].queryset = projects
        self.fields["hourly_rate"].label = f"Hourly rate ({currency}/h)"
        self.fields[
            "hourly_rate"
        ].help_text = f"Blank: the organisation's rate, {default_rate:g} {currency}/h."
        self.fields["other_costs"].label = f"Other costs ({currency})"
        self.fields["quality_metric"].help_text = 'e.g. "accuracy (%)" or "BLEU"'
        # Offered: the versions of the models of the teams whose projects the user may change;
        # the services check that the version's team is the project's.
        self.fields["version"].queryset = AiSystemVersion.objects.filter(
            system__team__in=projects.values("team")
        ).select_related("system")
        self.fields["version"].label = "Version it produced"
        self.fields["version"].help_text = (
            "A distillation, quantisation, pruning or smaller model that made a new version of "
            "a model: its break-even against the parent version is shown."
        )

    def service_fields(self) -> dict:
        """The cleaned values, as keyword arguments of the decisions services."""
        values = {name: self.cleaned_data.get(name) for name in OPTIMISATION_FIELDS}
        values.pop("project")
        values["title"] = values["title"] or ""
        values["description"] = values["description"] or ""
        values["quality_metric"] = values["quality_metric"] or ""
        for name in ("engineering_hours", "other_costs"):
            if values[name] is None:
                values[name] = 0.0
        return values


class DismissForm(forms.Form):
    reason = forms.CharField(
        max_length=1000,
        widget=forms.TextInput(attrs={"placeholder": "Why (required)"}),
        error_messages={"required": "Say why this recommendation is dismissed."},
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why this recommendation is dismissed.")
        return reason


class AcceptForm(forms.Form):
    """Only recommendations about hardware (no project) ask which project takes them on."""

    project = forms.ModelChoiceField(queryset=Project.objects.none(), required=False)

    def __init__(self, *args, projects, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects
