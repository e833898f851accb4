"""Server-rendered dashboard pages and their CSV exports.

Thin views: filters from the URL, data from assessments.dashboards.selectors and tables.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import urlencode

from assessments import permissions
from assessments.codecarbon.views import codecarbon_panel
from assessments.dashboards import selectors as dashboards
from assessments.dashboards import tables
from assessments.dashboards.csv_export import csv_response
from assessments.footprint.footprint_math import day_start
from assessments.footprint.range_words import narrowing_sentences, whose_figure
from assessments.footprint.work import project_work_panel
from assessments.jobs.forms import JobFilterForm
from assessments.models import Optimisation, Project, Team, WorkSource
from assessments.organisation.forms import (
    AllocationForm,
    FilterForm,
    Filters,
    WorkRecordForm,
    filters_from,
)
from assessments.watch.selectors import budget_list
from assessments.watch.views import budget_rows


def filtered_page(request, template: str, **context):
    """Render with the filters every page keeps in its URL."""
    filters, errors = filters_from(request.GET)
    for error in errors:
        messages.error(request, error)
    context.setdefault("filters", filters)
    context.setdefault("filter_form", FilterForm(initial=filters.query() | {"team": filters.team}))
    context.setdefault("filter_query", urlencode(filters.query()))
    context.setdefault("sources", dashboards.factor_sources())
    if "currency" not in context:
        context["currency"] = dashboards.currency()
    return render(request, template, context)


def request_filters(request):
    return filters_from(request.GET)[0]


# --- Dashboards --------------------------------------------------------------------------------


@login_required
def overview(request):
    filters = request_filters(request)
    # The in-service windows and the ranges' inputs, read once for the whole page.
    shared = dashboards.PageReads()
    comparison = dashboards.kpi_comparison(end=filters.end, team=filters.team, shared=shared)
    coverage = dashboards.coverage(start=filters.start, end=filters.end)
    unallocated = dashboards.unallocated(start=filters.start, end=filters.end, shared=shared)
    share = coverage["coverage"]
    currency = dashboards.currency()
    # The four split tables' rows in one read of their ranges.
    split = dashboards.breakdown_rows(
        bys=("project", "team", "phase", "site"),
        start=filters.start,
        end=filters.end,
        team=filters.team,
        shared=shared,
    )
    return filtered_page(
        request,
        "assessments/overview.html",
        currency=currency,
        kpis=tables.kpis(filters, comparison=comparison, currency=currency),
        periods=comparison["periods"],
        narrowing=narrowing_sentences(
            comparison["figures"]["current"]["range_drivers"],
            whose=whose_figure(team_name=filters.team.name if filters.team else None),
        ),
        unallocated_total=unallocated["total"],
        coverage_pct=None if share is None else share * 100,
        tables=[
            tables.top_projects(filters, currency=currency, data=split["project"]),
            tables.TABLES["by-team"](filters, currency=currency, data=split["team"]),
            tables.TABLES["by-phase"](filters, currency=currency, data=split["phase"]),
            tables.TABLES["by-site"](filters, currency=currency, data=split["site"]),
            tables.unallocated(filters, data=unallocated, currency=currency),
            tables.coverage(filters, data=coverage),
        ],
    )


@login_required
def project_list(request):
    filters = request_filters(request)
    return filtered_page(
        request,
        "assessments/projects.html",
        table=tables.projects(filters),
        can_create=permissions.editable_teams(request.user).exists(),
    )


@login_required
def project_detail(request, slug: str):
    project = get_object_or_404(Project.objects.select_related("team"), slug=slug)
    filters = request_filters(request)
    can_edit = permissions.can_edit_team(request.user, project.team)
    totals = dashboards.period_totals(start=filters.start, end=filters.end, project=project)
    return filtered_page(
        request,
        "assessments/project_detail.html",
        project=project,
        totals=totals,
        work=project_work_panel(
            project=project,
            start=day_start(filters.start),
            end=day_start(filters.end),
            totals=totals,
        ),
        tables=[
            tables.project_per_unit(filters, project),
            tables.project_by_device(filters, project),
            tables.PROJECT_TABLES["project-by-phase"](filters, project),
            tables.PROJECT_TABLES["project-by-site"](filters, project),
            tables.project_jobs(filters, project),
        ],
        optimisations=Optimisation.objects.filter(project=project).order_by("-applied_on", "-id"),
        allocations=project.allocations.select_related("host").order_by("-start"),
        work_records=project.work_records.filter(source=WorkSource.POSTED).order_by(
            "-period_start"
        )[:20],
        can_edit=can_edit,
        allocation_form=AllocationForm(hosts=permissions.allocatable_hosts(request.user))
        if can_edit
        else None,
        work_form=WorkRecordForm() if can_edit else None,
        codecarbon=codecarbon_panel(
            request, project=project, start=filters.start, end=filters.end, can_edit=can_edit
        ),
        budget_rows=budget_rows(budget_list(project=project), request.user),
    )


@login_required
def team_list(request):
    filters = request_filters(request)
    return filtered_page(request, "assessments/teams.html", table=tables.teams(filters))


@login_required
def team_detail(request, slug: str):
    team = get_object_or_404(Team, slug=slug)
    filters = request_filters(request)
    team_filters = Filters(start=filters.start, end=filters.end, team=team)
    totals = dashboards.period_totals(start=filters.start, end=filters.end, team=team)
    return filtered_page(
        request,
        "assessments/team_detail.html",
        team=team,
        team_query=urlencode(team_filters.query()),
        totals=totals,
        narrowing=narrowing_sentences(
            totals["range_drivers"], whose=whose_figure(team_name=team.name)
        ),
        table=tables.projects(team_filters),
        user_table=tables.users(team_filters),
        members=team.members.select_related("user").order_by("user__username"),
        budget_rows=budget_rows(budget_list().filter(team=team), request.user),
    )


@login_required
def hardware(request):
    filters = request_filters(request)
    return filtered_page(
        request,
        "assessments/hardware.html",
        tables=[tables.hardware_hosts(filters), tables.hardware_devices(filters)],
    )


def _job_filters(request):
    """The jobs page's filters, or the form whose refused values name their parameters."""
    form = JobFilterForm(request.GET)
    return form, (form.job_filters() if form.is_valid() else None)


@login_required
def job_list(request):
    form, job_filters = _job_filters(request)
    context = {"filter_form": form, "currency": dashboards.currency()}
    if job_filters is None:
        context["problems"] = form.problems()
        return render(request, "assessments/jobs.html", context, status=400)
    query = urlencode(job_filters.query())
    return render(
        request,
        "assessments/jobs.html",
        context
        | {
            "filters": job_filters.period,
            "filter_query": urlencode(job_filters.period.query()),
            "table": tables.jobs_page(job_filters, currency=context["currency"]),
            "csv_href": f"{reverse('export_jobs_csv')}?{query}",
            "sources": dashboards.factor_sources(),
        },
    )


@login_required
def export_jobs_csv(request):
    form, job_filters = _job_filters(request)
    if job_filters is None:
        lines = [f"Query parameter {name!r}: {message}\n" for name, message in form.problems()]
        return HttpResponse("".join(lines), status=400, content_type="text/plain; charset=utf-8")
    period = job_filters.period
    return csv_response(
        tables.jobs_page(job_filters), filename=f"jobs_{period.start}_{period.end}.csv"
    )


# --- CSV export --------------------------------------------------------------------------------


@login_required
def export_csv(request, name: str):
    if name not in tables.TABLES:
        raise Http404(f"No table named {name!r}.")
    filters = request_filters(request)
    table = tables.TABLES[name](filters)
    return csv_response(table, filename=f"{name}_{filters.start}_{filters.end}.csv")


@login_required
def export_project_csv(request, slug: str, name: str):
    project = get_object_or_404(Project, slug=slug)
    if name not in tables.PROJECT_TABLES:
        raise Http404(f"No table named {name!r}.")
    filters = request_filters(request)
    table = tables.PROJECT_TABLES[name](filters, project)
    return csv_response(table, filename=f"{slug}_{name}_{filters.start}_{filters.end}.csv")
