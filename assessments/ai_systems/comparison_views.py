"""The versions-side-by-side page of an AI system, its CSV and its energy-versus-quality chart.

Filters: the period (start, end) and `with`, other models of the same team to set beside it;
a refused value answers 400 naming its parameter.
"""

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import urlencode

from assessments.ai_systems.comparison import comparable_systems, version_comparison
from assessments.dashboards import charts
from assessments.dashboards import selectors as dashboards
from assessments.dashboards.csv_export import csv_response
from assessments.dashboards.tables import Column, Table
from assessments.models import AiSystem
from assessments.organisation.forms import FilterForm

COMPARISON_NOTE = (
    "Every figure is the version's lifecycle footprint over the period: serving within the "
    "period, the one-off (its own producing projects, whole) amortised over max(planned, "
    "served to date) requests; quality and latency as the team recorded them. See the "
    "methodology page."
)


class ComparisonForm(FilterForm):
    team = None  # a model belongs to one team: the dashboards' team filter does not apply

    def __init__(self, *args, system: AiSystem, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["with"] = forms.ModelMultipleChoiceField(
            queryset=comparable_systems(system),
            required=False,
            to_field_name="slug",
            label="Beside it",
            help_text="Other models of the same team whose versions to show too.",
        )


def _form(request, system: AiSystem):
    form = ComparisonForm(request.GET, system=system)
    if form.is_valid():
        return form, None
    problems = [
        ("start/end" if name == "__all__" else name, message)
        for name, messages in form.errors.items()
        for message in messages
    ]
    return form, problems


def comparison_table(system: AiSystem, form: ComparisonForm, currency: str) -> Table:
    data = form.cleaned_data
    comparison = version_comparison(
        system, others=list(data.get("with") or ()), start=data["start"], end=data["end"]
    )
    return Table(
        "versions",
        "Versions side by side",
        [
            Column("model", "Model"),
            Column("version", "Version"),
            Column("parent", "Parent"),
            Column("relation", "Relation"),
            Column("requests", "Requests", "count", 0),
            Column("output_tokens", "Output tokens", "count", 0),
            Column("energy_kwh_per_1m_output_tokens", "IT energy per 1 M output tokens", "kWh", 4),
            Column("kgco2e_per_1k_requests", "Carbon per 1,000 requests, serving", "kgCO2e", 4),
            Column(
                "lifecycle_kgco2e_per_1k_requests",
                "Carbon per 1,000 requests, lifecycle",
                "kgCO2e",
                4,
            ),
            Column("quality_metric", "Quality metric"),
            Column("quality_value", "Quality", "", 4),
            Column("latency_p50_ms", "Latency p50", "ms", 1),
            Column("latency_p95_ms", "Latency p95", "ms", 1),
            Column("cost_per_1k_requests", "Cost per 1,000 requests, serving", currency, 4),
            Column("serving_cost", "Serving cost in the period", currency, 2),
            Column("one_off_cost", "One-off cost", currency, 2),
        ],
        list(comparison.rows),
        COMPARISON_NOTE,
    )


def _query(form: ComparisonForm) -> str:
    data = form.cleaned_data
    params = [("start", data["start"].isoformat()), ("end", data["end"].isoformat())]
    params += [("with", other.slug) for other in data.get("with") or ()]
    return urlencode(params)


@login_required
def version_comparison_page(request, slug: str):
    system = get_object_or_404(AiSystem.objects.select_related("team"), slug=slug)
    form, problems = _form(request, system)
    context = {"system": system, "filter_form": form, "currency": dashboards.currency()}
    if problems:
        return render(
            request,
            "assessments/ai_systems/compare.html",
            context | {"problems": problems},
            status=400,
        )
    query = _query(form)
    return render(
        request,
        "assessments/ai_systems/compare.html",
        context
        | {
            "table": comparison_table(system, form, context["currency"]),
            "csv_href": f"{reverse('version_comparison_csv', args=[slug])}?{query}",
            "chart_href": f"{reverse('version_comparison_chart', args=[slug])}?{query}",
        },
    )


@login_required
def version_comparison_csv(request, slug: str):
    system = get_object_or_404(AiSystem, slug=slug)
    form, problems = _form(request, system)
    if problems:
        lines = [f"Query parameter {name!r}: {message}\n" for name, message in problems]
        return HttpResponse("".join(lines), status=400, content_type="text/plain; charset=utf-8")
    data = form.cleaned_data
    table = comparison_table(system, form, dashboards.currency())
    return csv_response(table, filename=f"{slug}_versions_{data['start']}_{data['end']}.csv")


@login_required
def version_comparison_chart(request, slug: str):
    system = get_object_or_404(AiSystem, slug=slug)
    form, problems = _form(request, system)
    if problems:
        details = [f"{name}: {message}" for name, message in problems]
        return JsonResponse({"error": "Bad filters.", "details": details}, status=400)
    table = comparison_table(system, form, dashboards.currency())
    return JsonResponse(charts.figure_json(charts.energy_quality_figure(table.rows)))
