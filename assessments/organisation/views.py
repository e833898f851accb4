"""The engineers' pages that change the organisation (projects, allocations, work records,
collectors, personal API tokens) and the methodology page.

Thin views: writes go through assessments.organisation.services and collectors.services after a
role-and-team check (assessments.permissions); the methodology page reads
assessments.organisation.methodology.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from assessments import permissions
from assessments.dashboards import selectors as dashboards
from assessments.dashboards import tables
from assessments.dashboards.views import filtered_page, request_filters
from assessments.footprint.selectors import rollup_status
from assessments.models import Allocation, ApiToken, HardwareModel, Project, Site, WorkRecord
from assessments.organisation import services
from assessments.organisation.factor_changes import factor_object_save
from assessments.organisation.forms import (
    AllocationForm,
    ApiTokenForm,
    CollectorForm,
    HardwareModelForm,
    ProjectForm,
    SiteForm,
    WorkRecordForm,
)
from assessments.organisation.methodology import methodology_context
from collectors import services as collector_services
from collectors.models import Collector

NEW_COLLECTOR_TOKEN = "new_collector_token"
NEW_API_TOKEN = "new_api_token"


@login_required
def methodology(request):
    context = methodology_context()
    context["can_edit_factors"] = permissions.is_admin(request.user)
    return render(request, "assessments/methodology.html", context)


# --- Factors: sites and hardware models (admins only) ------------------------------------------


def _factor_form_page(request, form_class, instance, what: str):
    """Create or edit a site or hardware model; a refused form is a 400 naming its fields, and
    nothing is stored unless everything is valid."""
    form = form_class(request.POST or None, instance=instance)
    if request.method == "POST":
        if form.is_valid():
            obj = form.save(commit=False)
            try:
                factor_object_save(obj=obj, changed_by=request.user)
            except IntegrityError:  # the same name saved meanwhile by someone else
                form.add_error("name", f"{what} {obj} exists already.")
            else:
                messages.success(request, f"{what} {obj} saved; the change is recorded below.")
                return redirect(f"{reverse('methodology')}#factor-changes")
        status = 400
    else:
        status = 200
    verb = "Edit" if instance is not None else "Add"
    title = f"{verb} {what.lower()}" + (f" {instance}" if instance is not None else "")
    return render(
        request,
        "assessments/factor_form.html",
        {"form": form, "title": title},
        status=status,
    )


@login_required
@permissions.admin_required
def site_create(request):
    return _factor_form_page(request, SiteForm, None, "Site")


@login_required
@permissions.admin_required
def site_edit(request, pk: int):
    return _factor_form_page(request, SiteForm, get_object_or_404(Site, pk=pk), "Site")


@login_required
@permissions.admin_required
def hardware_model_create(request):
    return _factor_form_page(request, HardwareModelForm, None, "Hardware model")


@login_required
@permissions.admin_required
def hardware_model_edit(request, pk: int):
    model = get_object_or_404(HardwareModel, pk=pk)
    return _factor_form_page(request, HardwareModelForm, model, "Hardware model")


# --- Collectors --------------------------------------------------------------------------------


# Pages that may show a token once: no cache (browser or proxy) may keep a copy of them.
@never_cache
@login_required
def collector_list(request):
    filters = request_filters(request)
    teams = permissions.editable_teams(request.user)
    can_create = permissions.is_admin(request.user) or teams.exists()
    return filtered_page(
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
    admin = permissions.is_admin(request.user)
    form = AllocationForm(
        request.POST or None,
        hosts=permissions.allocatable_hosts(request.user),
        project=project,
        allow_cross_team=admin,
    )
    if request.method == "POST" and form.is_valid():
        try:
            allocation = services.allocation_create(
                project=project, **form.allocation_values(), allow_cross_team=admin
            )
        except services.CrossTeamOverlap as exc:  # made meanwhile by another team
            form.add_error(None, str(exc))
        else:
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
        can_grant_backfill=permissions.is_admin(user),
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
            name=form.cleaned_data["name"],
            team=team,
            created_by=request.user,
            allow_backfill=form.cleaned_data.get("allow_backfill", False),
        )
    except (ValueError, IntegrityError) as exc:
        messages.error(request, f"Collector not created: {exc}")
        return redirect("collector_list")
    # Shown once on the next page view, then gone from the session: only its digest is kept.
    request.session[NEW_COLLECTOR_TOKEN] = {"name": collector.name, "token": token}
    return redirect("collector_list")


@login_required
@permissions.admin_required
@require_POST
def collector_backfill(request, pk: int):
    """Grant or withdraw the back-fill permission (samples older than the retention)."""
    collector = get_object_or_404(Collector, pk=pk)
    allow = request.POST.get("allow_backfill") == "1"
    collector_services.collector_backfill_set(collector=collector, allow=allow)
    state = "may now back-fill" if allow else "may no longer back-fill"
    messages.success(request, f"Collector {collector.name} {state}.")
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


@never_cache
@login_required
def token_list(request):
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            api_token, token = services.api_token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
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
