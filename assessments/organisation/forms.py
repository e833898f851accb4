"""Forms of the dashboard filters and of the engineers' pages."""

from dataclasses import dataclass
from datetime import date, timedelta

from django import forms
from django.utils import timezone

from assessments.footprint.footprint_math import day_start
from assessments.models import ApiToken, GridZone, HardwareModel, Phase, Project, Site, Team
from assessments.organisation import work_bounds
from assessments.organisation.services import (
    allocation_cross_team_overlaps,
    cross_team_overlap_message,
)
from collectors.models import Host

DEFAULT_RANGE_DAYS = 90
MAX_RANGE_DAYS = 3 * 366


@dataclass(frozen=True)
class Filters:
    """Date range (UTC days, end exclusive) and optional team, as kept in the URL."""

    start: date
    end: date
    team: Team | None = None

    def query(self) -> dict[str, str]:
        params = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.team is not None:
            params["team"] = self.team.slug
        return params

    def cache_key(self) -> str:
        return f"{self.start:%Y%m%d}-{self.end:%Y%m%d}-{self.team.slug if self.team else ''}"

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)


def default_filters(today: date | None = None) -> Filters:
    today = today or timezone.now().date()
    end = today + timedelta(days=1)
    return Filters(start=end - timedelta(days=DEFAULT_RANGE_DAYS), end=end)


class FilterForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(
        required=False,
        label="End (exclusive)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"),
        required=False,
        to_field_name="slug",
        empty_label="All teams",
    )

    def clean(self):
        data = super().clean()
        defaults = default_filters()
        start, end = data.get("start"), data.get("end")
        try:
            if start is None and end is None:
                start, end = defaults.start, defaults.end
            elif start is None:
                start = end - timedelta(days=DEFAULT_RANGE_DAYS)
            elif end is None:
                end = start + timedelta(days=DEFAULT_RANGE_DAYS)
        except OverflowError:
            raise forms.ValidationError(
                "Choose both dates: the range would leave the calendar."
            ) from None
        if end <= start:
            raise forms.ValidationError("The end date must be after the start date.")
        if (end - start).days > MAX_RANGE_DAYS:
            raise forms.ValidationError(f"Choose a range of at most {MAX_RANGE_DAYS} days.")
        data["start"], data["end"] = start, end
        return data

    def filters(self) -> Filters:
        data = self.cleaned_data
        return Filters(start=data["start"], end=data["end"], team=data.get("team"))


def filters_from(params) -> tuple[Filters, list[str]]:
    """The filters of a query string, and readable errors; bad input falls back to defaults."""
    form = FilterForm(params)
    if form.is_valid():
        return form.filters(), []
    errors = [
        f"{'Filter' if field == '__all__' else form.fields[field].label or field}: {message}"
        for field, messages in form.errors.items()
        for message in messages
    ]
    return default_filters(), errors


def _offer_teams(field, teams) -> None:
    """Offer the user's own teams, but accept any team: the view then answers 403, not a form
    error, when someone posts another team's id."""
    field.queryset = Team.objects.order_by("name")
    field.widget.choices = [("", "---------")] + [(t.pk, t.name) for t in teams.order_by("name")]


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "slug", "team", "phase", "work_unit", "work_kind"]
        help_texts = {
            "slug": "Lower-case letters, digits and hyphens; used in URLs and tags.",
            "work_kind": "What the unit counts: the project's work units and SCI count this kind.",
        }

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        _offer_teams(self.fields["team"], teams)
        self.fields["phase"].choices = Phase.choices
        # Left out: the project keeps its kind (a new one: the generic kind "other").
        self.fields["work_kind"].required = False

    def clean_work_kind(self):
        return self.cleaned_data.get("work_kind") or self.instance.work_kind or "other"


class AllocationForm(forms.Form):
    """hosts: those the user may allocate (their teams' hosts; admins: all). project and
    allow_cross_team: refuse an overlap with another team's allocation unless an admin asks."""

    host = forms.ModelChoiceField(queryset=Host.objects.none())
    devices = forms.CharField(
        initial="all",
        help_text='"all" or device indexes separated by commas, e.g. "0, 1".',
    )
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Start (UTC)")
    end = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        label="End (UTC, exclusive)",
        help_text="Blank: open-ended.",
    )

    def __init__(self, *args, hosts, project=None, allow_cross_team: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["host"].queryset = hosts.order_by("hostname")
        self.project = project
        self.allow_cross_team = allow_cross_team

    def clean_devices(self) -> list[int] | None:
        text = self.cleaned_data["devices"].strip().lower()
        if text == "all":
            return None
        try:
            indexes = sorted({int(part) for part in text.replace(" ", "").split(",") if part})
        except ValueError:
            raise forms.ValidationError(
                f'"{text}" is neither "all" nor a list of device indexes like "0, 1".'
            ) from None
        if not indexes or any(index < 0 for index in indexes):
            raise forms.ValidationError("Device indexes are whole numbers from 0.")
        return indexes

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end <= start:
            self.add_error("end", "The end must be after the start.")
        host, indexes = data.get("host"), data.get("devices")
        if host is not None and indexes:
            known = set(host.devices.values_list("index", flat=True))
            missing = [index for index in indexes if index not in known]
            if known and missing:
                self.add_error(
                    "devices",
                    f"{host.hostname} has no device with index {', '.join(map(str, missing))}.",
                )
        if self.project is not None and not self.allow_cross_team and not self.errors:
            values = self.allocation_values()
            conflicts = allocation_cross_team_overlaps(
                project=self.project,
                host=values["host"],
                device_indexes=values["device_indexes"],
                start=values["start"],
                end=values["end"],
            )
            if conflicts:
                raise forms.ValidationError(cross_team_overlap_message(conflicts))
        return data

    def allocation_values(self) -> dict:
        data = self.cleaned_data
        return {
            "host": data["host"],
            "device_indexes": data["devices"],
            "start": day_start(data["start"]),
            "end": day_start(data["end"]) if data.get("end") else None,
        }


class WorkRecordForm(forms.Form):
    period_start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), label="Period end (exclusive)"
    )
    units = forms.FloatField(
        min_value=0, max_value=work_bounds.UNITS_MAX, help_text="Units of work done in the period."
    )
    note = forms.CharField(required=False, max_length=300)

    def clean(self):
        data = super().clean()
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and end <= start:
            self.add_error("period_end", "The end must be after the start.")
        elif start and end:
            problem = work_bounds.period_problem(
                day_start(start), day_start(end), now=timezone.now()
            )
            if problem:
                field, message = problem
                self.add_error(f"period_{field}", message[0].upper() + message[1:] + ".")
        return data

    def record_values(self) -> dict:
        data = self.cleaned_data
        return {
            "start": day_start(data["period_start"]),
            "end": day_start(data["period_end"]),
            "units": data["units"],
            "note": data.get("note", ""),
        }


class CollectorForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="e.g. the cluster or rack it watches.")
    team = forms.ModelChoiceField(
        queryset=Team.objects.all(),
        required=False,
        help_text="Its hosts are the team's, and its tags may name only the team's projects. "
        "Blank: organisation-wide.",
    )
    allow_backfill = forms.BooleanField(
        required=False,
        label="Allow back-fill",
        help_text="May send samples older than the raw-sample retention (not before 2000): "
        "replaying a trace, importing an old spool.",
    )

    def __init__(
        self, *args, teams, team_required: bool, can_grant_backfill: bool = False, **kwargs
    ):
        super().__init__(*args, **kwargs)
        _offer_teams(self.fields["team"], teams)
        self.fields["team"].required = team_required
        if not can_grant_backfill:  # admins only
            del self.fields["allow_backfill"]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. the finance notebook.")
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.READ,
        help_text="Read: the read API only. Read and record work units: also "
        "POST /api/v1/projects/<slug>/work, for the projects your role lets you edit.",
    )


# --- Factors (admins only: they move every team's figures) -------------------------------------


class _FactorForm(forms.ModelForm):
    """A site or hardware model form: every value at or above its least value (as in an inventory
    file). The bounds are checked by the model's clean() (assessments.organisation.factor_bounds,
    the rules the inventory and the admin use too); each problem is attached to its field."""

    least_values: dict[str, float] = {}
    positive: tuple[str, ...] = ()

    def clean(self):
        cleaned = super().clean()
        for name, least in self.least_values.items():
            value = cleaned.get(name)
            if value is not None and value < least:
                self.add_error(name, f"must be at least {least:g}")
        for name in self.positive:
            value = cleaned.get(name)
            if value is not None and value <= 0:
                self.add_error(name, "must be above 0")
        return cleaned


class SiteForm(_FactorForm):
    least_values = {"pue": 1.0, "energy_price_per_kwh": 0.0}

    class Meta:
        model = Site
        fields = [
            "name",
            "grid_zone",
            "grid_uncertainty_pct",
            "pue",
            "pue_min",
            "pue_max",
            "pue_source",
            "energy_price_per_kwh",
            "price_min",
            "price_max",
            "price_source",
        ]
        labels = {
            "grid_uncertainty_pct": "Grid intensity uncertainty (± %)",
            "pue": "PUE",
            "pue_min": "PUE, lowest",
            "pue_max": "PUE, highest",
            "pue_source": "PUE source",
            "energy_price_per_kwh": "Energy price (per kWh, organisation's currency)",
            "price_min": "Energy price, lowest (per kWh)",
            "price_max": "Energy price, highest (per kWh)",
        }

    def clean_grid_zone(self):
        code = self.cleaned_data["grid_zone"].strip()
        if not GridZone.objects.filter(code=code).exists():
            raise forms.ValidationError(
                f"unknown grid zone {code!r}: an ISO 3166 alpha-3 code (FRA) or a cloud region "
                "(gcp:europe-west1) listed on the methodology page"
            )
        return code


class HardwareModelForm(_FactorForm):
    least_values = {"embodied_kgco2e": 0.0}
    positive = ("lifetime_years",)
    # A shipped row is refreshed from the reference data on upgrade while it carries the shipped
    # source (organisation/reference_data/README.md): new values need their own source.
    SOURCED = (
        "embodied_kgco2e",
        "min_kgco2e",
        "max_kgco2e",
        "lifetime_years",
        "lifetime_years_min",
        "lifetime_years_max",
    )

    def clean(self):
        from assessments.organisation.reference_data import shipped_sources

        cleaned = super().clean()
        source = cleaned.get("source")
        changed = [name for name in self.SOURCED if name in self.changed_data]
        if changed and source in shipped_sources():
            self.add_error(
                "source",
                "still the shipped source: say where the new values come from, or the next "
                "upgrade replaces them with the shipped ones",
            )
        return cleaned

    class Meta:
        model = HardwareModel
        fields = [
            "kind",
            "name",
            "embodied_kgco2e",
            "min_kgco2e",
            "max_kgco2e",
            "lifetime_years",
            "lifetime_years_min",
            "lifetime_years_max",
            "source",
            "nvml_names",
        ]
        labels = {
            "embodied_kgco2e": "Embodied carbon (kgCO2e)",
            "min_kgco2e": "Embodied carbon, lowest (kgCO2e)",
            "max_kgco2e": "Embodied carbon, highest (kgCO2e)",
            "lifetime_years": "Lifetime (years)",
            "lifetime_years_min": "Lifetime, shortest (years)",
            "lifetime_years_max": "Lifetime, longest (years)",
            "nvml_names": "Other NVML names (one per line)",
        }
