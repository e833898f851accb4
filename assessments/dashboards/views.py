"""Server-rendered dashboard pages and the engineers' forms.

Thin views: filters from the URL, data from assessments.dashboards.selectors/tables, writes through
assessments.organisation.services and collectors.services after a role-and-team check.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from assessments import permissions
from assessments.dashboards import selectors as dashboards
from assessments.dashboards import tables
from assessments.dashboards.csv_export import csv_response
from assessments.footprint.selectors import rollup_status
from assessments.models import Allocation, ApiToken, Optimisation, Project, Team, WorkRecord
from assessments.organisation import services
from assessments.organisation.forms import (
    AllocationForm,
    ApiTokenForm,
    CollectorForm,
    FilterForm,
    Filters,
    ProjectForm,
    WorkRecordForm,
    filters_from,
)
from collectors import services as collector_services
from collectors.models import Collector

NEW_COLLECTOR_TOKEN = "new_collector_token"
NEW_API_TOKEN = "new_api_token"


def _page(request, template: str, **context):
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


def _filters(request):
    return filters_from(request.GET)[0]


# --- Dashboards --------------------------------------------------------------------------------


@login_required
def overview(request):
    filters = _filters(request)
    comparison = dashboards.kpi_comparison(end=filters.end, team=filters.team)
    coverage = dashboards.coverage(start=filters.start, end=filters.end)
    unallocated = dashboards.unallocated(start=filters.start, end=filters.end)
    share = coverage["coverage"]
    currency = dashboards.currency()
    return _page(
        request,
        "assessments/overview.html",
        currency=currency,
        kpis=tables.kpis(filters, comparison=comparison, currency=currency),
        periods=comparison["periods"],
        unallocated_total=unallocated["total"],
        coverage_pct=None if share is None else share * 100,
        tables=[
            tables.top_projects(filters, currency=currency),
            tables.TABLES["by-team"](filters, currency=currency),
            tables.TABLES["by-phase"](filters, currency=currency),
            tables.TABLES["by-site"](filters, currency=currency),
            tables.unallocated(filters, data=unallocated, currency=currency),
            tables.coverage(filters, data=coverage),
        ],
    )


@login_required
def project_list(request):
    filters = _filters(request)
    return _page(
        request,
        "assessments/projects.html",
        table=tables.projects(filters),
        can_create=permissions.editable_teams(request.user).exists(),
    )


@login_required
def project_detail(request, slug: str):
    project = get_object_or_404(Project.objects.select_related("team"), slug=slug)
    filters = _filters(request)
    can_edit = permissions.can_edit_team(request.user, project.team)
    return _page(
        request,
        "assessments/project_detail.html",
        project=project,
        totals=dashboards.period_totals(start=filters.start, end=filters.end, project=project),
        tables=[
            tables.project_per_unit(filters, project),
            tables.project_by_device(filters, project),
            tables.PROJECT_TABLES["project-by-phase"](filters, project),
            tables.PROJECT_TABLES["project-by-site"](filters, project),
        ],
        optimisations=Optimisation.objects.filter(project=project).order_by("-applied_on", "-id"),
        allocations=project.allocations.select_related("host").order_by("-start"),
        work_records=project.work_records.order_by("-period_start")[:20],
        can_edit=can_edit,
        allocation_form=AllocationForm() if can_edit else None,
        work_form=WorkRecordForm() if can_edit else None,
    )


@login_required
def team_list(request):
    filters = _filters(request)
    return _page(request, "assessments/teams.html", table=tables.teams(filters))


@login_required
def team_detail(request, slug: str):
    team = get_object_or_404(Team, slug=slug)
    filters = _filters(request)
    team_filters = Filters(start=filters.start, end=filters.end, team=team)
    return _page(
        request,
        "assessments/team_detail.html",
        team=team,
        team_query=urlencode(team_filters.query()),
        totals=dashboards.period_totals(start=filters.start, end=filters.end, team=team),
        table=tables.projects(team_filters),
        members=team.members.select_related("user").order_by("user__username"),
    )


@login_required
def hardware(request):
    filters = _filters(request)
    return _page(
        request,
        "assessments/hardware.html",
        tables=[tables.hardware_hosts(filters), tables.hardware_devices(filters)],
    )


@login_required
def collector_list(request):
    filters = _filters(request)
    teams = permissions.editable_teams(request.user)
    can_create = permissions.is_admin(request.user) or teams.exists()
    return _page(
        request,
        "assessments/collectors.html",
        table=tables.collectors(filters),
        health=dashboards.collector_health(team=filters.team),
        rollup=rollup_status(),
        rejections=dashboards.recent_rejections(team=filters.team),
        new_token=request.session.pop(NEW_COLLECTOR_TOKEN, None),
        can_create=can_create,
        form=_collector_form(request.user) if can_create else None,
        editable_team_ids=set(teams.values_list("pk", flat=True)),
        is_admin=permissions.is_admin(request.user),
    )


# --- CSV export --------------------------------------------------------------------------------


@login_required
def export_csv(request, name: str):
    if name not in tables.TABLES:
        raise Http404(f"No table named {name!r}.")
    filters = _filters(request)
    table = tables.TABLES[name](filters)
    return csv_response(table, filename=f"{name}_{filters.start}_{filters.end}.csv")


@login_required
def export_project_csv(request, slug: str, name: str):
    project = get_object_or_404(Project, slug=slug)
    if name not in tables.PROJECT_TABLES:
        raise Http404(f"No table named {name!r}.")
    filters = _filters(request)
    table = tables.PROJECT_TABLES[name](filters, project)
    return csv_response(table, filename=f"{slug}_{name}_{filters.start}_{filters.end}.csv")


# --- Engineers' forms --------------------------------------------------------------------------


@login_required
@permissions.engineer_required
def project_create(request):
    teams = permissions.editable_teams(request.user)
    form = ProjectForm(request.POST or None, teams=teams)
    if request.method == "POST" and form.is_valid():
        permissions.check_can_edit_team(request.user, form.cleaned_data["team"])
        project = services.project_create(**form.cleaned_data)
        messages.success(request, f"Project {project.name} registered.")
        return redirect("project_detail", slug=project.slug)
    return render(request, "assessments/project_form.html", {"form": form, "project": None})


@login_required
@permissions.engineer_required
def project_edit(request, slug: str):
    project = get_object_or_404(Project, slug=slug)
    permissions.check_can_edit_team(request.user, project.team)
    teams = permissions.editable_teams(request.user)
    form = ProjectForm(request.POST or None, instance=project, teams=teams)
    if request.method == "POST" and form.is_valid():
        permissions.check_can_edit_team(request.user, form.cleaned_data["team"])
        form.save()
        messages.success(request, f"Project {project.name} saved.")
        return redirect("project_detail", slug=project.slug)
    return render(request, "assessments/project_form.html", {"form": form, "project": project})


@login_required
@permissions.engineer_required
def allocation_create(request, slug: str):
    project = get_object_or_404(Project, slug=slug)
    permissions.check_can_edit_team(request.user, project.team)
    form = AllocationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allocation = services.allocation_create(project=project, **form.allocation_values())
        messages.success(request, f"Allocated: {allocation}.")
        return redirect("project_detail", slug=project.slug)
    return render(
        request, "assessments/simple_form.html", _form_context(form, project, "Allocate devices")
    )


@login_required
@permissions.engineer_required
@require_POST
def allocation_delete(request, slug: str, pk: int):
    allocation = get_object_or_404(Allocation, pk=pk, project__slug=slug)
    permissions.check_can_edit_team(request.user, allocation.project.team)
    services.allocation_delete(allocation=allocation)
    messages.success(request, "Allocation removed.")
    return redirect("project_detail", slug=slug)


@login_required
@permissions.engineer_required
def work_record_create(request, slug: str):
    project = get_object_or_404(Project, slug=slug)
    permissions.check_can_edit_team(request.user, project.team)
    form = WorkRecordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.work_record_create(
            project=project, created_by=request.user, **form.record_values()
        )
        unit = project.work_unit or "units of work"
        messages.success(request, f"Recorded {form.cleaned_data['units']:,.0f} {unit}.")
        return redirect("project_detail", slug=project.slug)
    return render(
        request, "assessments/simple_form.html", _form_context(form, project, "Record work")
    )


@login_required
@permissions.engineer_required
@require_POST
def work_record_delete(request, slug: str, pk: int):
    record = get_object_or_404(WorkRecord, pk=pk, project__slug=slug)
    permissions.check_can_edit_team(request.user, record.project.team)
    record.delete()
    messages.success(request, "Work record removed.")
    return redirect("project_detail", slug=slug)


def _form_context(form, project, title: str) -> dict:
    return {"form": form, "project": project, "title": title}


def _collector_form(user, data=None) -> CollectorForm:
    return CollectorForm(
        data,
        teams=permissions.editable_teams(user),
        team_required=not permissions.is_admin(user),
    )


@login_required
@permissions.engineer_required
@require_POST
def collector_create(request):
    form = _collector_form(request.user, request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(request, f"Collector {field}: {error}")
        return redirect("collector_list")
    team = form.cleaned_data.get("team")
    if team is not None or not permissions.is_admin(request.user):
        permissions.check_can_edit_team(request.user, team)
    try:
        collector, token = collector_services.collector_create(
            name=form.cleaned_data["name"], team=team, created_by=request.user
        )
    except (ValueError, IntegrityError) as exc:
        messages.error(request, f"Collector not created: {exc}")
        return redirect("collector_list")
    # Shown once on the next page view, then gone from the session: only its digest is kept.
    request.session[NEW_COLLECTOR_TOKEN] = {"name": collector.name, "token": token}
    return redirect("collector_list")


@login_required
@permissions.engineer_required
@require_POST
def collector_revoke(request, pk: int):
    collector = get_object_or_404(Collector, pk=pk)
    if collector.team is None:
        if not permissions.is_admin(request.user):
            raise PermissionDenied("Only admins may revoke a collector without a team.")
    else:
        permissions.check_can_edit_team(request.user, collector.team)
    collector_services.collector_revoke(collector=collector)
    messages.success(request, f"Collector {collector.name} revoked; its token no longer works.")
    return redirect("collector_list")


# --- Personal API tokens -----------------------------------------------------------------------


@login_required
def token_list(request):
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            api_token, token = services.api_token_create(
                user=request.user, name=form.cleaned_data["name"]
            )
            request.session[NEW_API_TOKEN] = {"name": api_token.name, "token": token}
            return redirect("token_list")
    return render(
        request,
        "assessments/tokens.html",
        {
            "form": form,
            "tokens": request.user.api_tokens.order_by("revoked_at", "-created_at"),
            "new_token": request.session.pop(NEW_API_TOKEN, None),
        },
    )


@login_required
@require_POST
def token_revoke(request, pk: int):
    api_token = get_object_or_404(ApiToken, pk=pk)
    if api_token.user_id != request.user.pk and not permissions.is_admin(request.user):
        raise PermissionDenied("You may only revoke your own tokens.")
    services.api_token_revoke(api_token=api_token)
    messages.success(request, f"Token {api_token.name} revoked.")
    return redirect("token_list")
