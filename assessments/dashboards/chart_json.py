"""Cached JSON endpoints that serve the dashboards' plotly figures.

The page renders a frame; a small script fetches the figure from here (djangoproject.com's
dashboard pattern). Responses are cached per chart and filters for a short time.
"""

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import JsonResponse
from django.shortcuts import get_object_or_404

from assessments.dashboards import charts
from assessments.dashboards import selectors as dashboards
from assessments.models import Project
from assessments.organisation.forms import FilterForm, Filters

CHART_CACHE_SECONDS = 60


def _trend(f: Filters, project=None):
    # A project page ignores the team filter: the project belongs to one team anyway.
    team = None if project is not None else f.team
    return dashboards.time_series(start=f.start, end=f.end, team=team, project=project)


def _span(f: Filters) -> dict:
    return {"start": f.start, "end": f.end}


def _breakdown(by: str, title: str):
    def build(f: Filters, project=None):
        rows = dashboards.breakdown(
            by=by, start=f.start, end=f.end, team=f.team, project=project, with_ranges=False
        )
        return charts.carbon_split_figure(rows, title=title)

    return build


def _hosts(f: Filters):
    return dashboards.hardware_hosts(start=f.start, end=f.end)


CHARTS = {
    "energy-trend": lambda f: charts.energy_trend_figure(_trend(f), **_span(f)),
    "carbon-trend": lambda f: charts.carbon_trend_figure(_trend(f), **_span(f)),
    "cost-trend": lambda f: charts.cost_trend_figure(
        _trend(f), currency=dashboards.currency(), **_span(f)
    ),
    "carbon-by-team": _breakdown("team", "Carbon by team"),
    "carbon-by-phase": _breakdown("phase", "Carbon by lifecycle phase"),
    "carbon-by-site": _breakdown("site", "Carbon by site"),
    "top-projects": lambda f: charts.carbon_split_figure(
        dashboards.top_projects(start=f.start, end=f.end, team=f.team),
        title="Top projects by carbon",
    ),
    "coverage": lambda f: charts.coverage_figure(
        dashboards.coverage_series(start=f.start, end=f.end), **_span(f)
    ),
    "hardware-utilisation": lambda f: charts.utilisation_figure(_hosts(f)),
    "hardware-idle-energy": lambda f: charts.idle_energy_figure(_hosts(f)),
    "hardware-embodied-vs-operational": lambda f: charts.embodied_vs_operational_figure(_hosts(f)),
    "hardware-age-vs-lifetime": lambda f: charts.age_vs_lifetime_figure(_hosts(f)),
}

PROJECT_CHARTS = {
    "energy-trend": lambda f, p: charts.energy_trend_figure(_trend(f, p), **_span(f)),
    "carbon-trend": lambda f, p: charts.carbon_trend_figure(_trend(f, p), **_span(f)),
    "cost-trend": lambda f, p: charts.cost_trend_figure(
        _trend(f, p), currency=dashboards.currency(), **_span(f)
    ),
    "per-unit": lambda f, p: charts.per_unit_figure(
        dashboards.project_per_unit_series(project=p, start=f.start, end=f.end),
        work_unit=p.work_unit,
        **_span(f),
    ),
    "by-device": lambda f, p: charts.carbon_split_figure(
        dashboards.project_by_device(project=p, start=f.start, end=f.end),
        title="Carbon by device",
    ),
    "by-phase": lambda f, p: _breakdown("phase", "Carbon by lifecycle phase")(
        Filters(f.start, f.end), p
    ),
    "by-site": lambda f, p: _breakdown("site", "Carbon by site")(Filters(f.start, f.end), p),
}


def _filters_or_error(request):
    form = FilterForm(request.GET)
    if not form.is_valid():
        messages = [f"{field}: {'; '.join(errors)}" for field, errors in form.errors.items()]
        return None, JsonResponse({"error": "Bad filters.", "details": messages}, status=400)
    return form.filters(), None


def _cached_figure(key: str, build) -> JsonResponse:
    payload = cache.get(key)
    if payload is None:
        payload = charts.figure_json(build())
        cache.set(key, payload, CHART_CACHE_SECONDS)
    response = JsonResponse(payload)
    response["Cache-Control"] = f"private, max-age={CHART_CACHE_SECONDS}"
    return response


@login_required
def chart(request, name: str):
    if name not in CHARTS:
        return JsonResponse({"error": f"No chart named {name!r}.", "details": []}, status=404)
    filters, error = _filters_or_error(request)
    if error:
        return error
    return _cached_figure(f"chart:{name}:{filters.cache_key()}", lambda: CHARTS[name](filters))


@login_required
def project_chart(request, slug: str, name: str):
    project = get_object_or_404(Project, slug=slug)
    if name not in PROJECT_CHARTS:
        return JsonResponse({"error": f"No chart named {name!r}.", "details": []}, status=404)
    filters, error = _filters_or_error(request)
    if error:
        return error
    key = f"chart:project:{project.pk}:{name}:{filters.cache_key()}"
    return _cached_figure(key, lambda: PROJECT_CHARTS[name](filters, project))
