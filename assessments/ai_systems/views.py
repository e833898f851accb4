"""Pages of AI systems: the list, a model with its versions' lifecycle figures, and the forms
(engineers of the owning team and admins; every reader sees the figures, as elsewhere)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render

from assessments import permissions
from assessments.ai_systems import selectors, services
from assessments.ai_systems.forms import AiSystemForm, VersionForm
from assessments.dashboards.views import filtered_page, request_filters
from assessments.models import AiSystem, AiSystemVersion, Organisation


@login_required
def ai_system_list(request):
    systems = selectors.all_systems()
    return filtered_page(
        request,
        "assessments/ai_systems/list.html",
        systems=[{"system": s, "versions": s.versions.count()} for s in systems],
        can_create=permissions.editable_teams(request.user).exists(),
    )


@login_required
def ai_system_detail(request, slug: str):
    system = get_object_or_404(AiSystem.objects.select_related("team"), slug=slug)
    filters = request_filters(request)
    versions = [
        {
            "version": version,
            "footprint": selectors.version_footprint(version, start=filters.start, end=filters.end),
        }
        for version in selectors.system_versions(system)
    ]
    return filtered_page(
        request,
        "assessments/ai_systems/detail.html",
        system=system,
        versions=versions,
        currency=Organisation.get().currency,
        can_edit=permissions.can_edit_team(request.user, system.team),
    )


@login_required
@permissions.engineer_required
def ai_system_create(request):
    teams = permissions.editable_teams(request.user)
    form = AiSystemForm(request.POST or None, teams=teams)
    if request.method == "POST" and form.is_valid():
        try:
            system = services.ai_system_create(**form.cleaned_data)
        except services.AiSystemError as exc:
            form.add_error(exc.field or None, str(exc))
        else:
            messages.success(request, f"AI system {system.name} created.")
            return redirect("ai_system_detail", system.slug)
    return render(request, "assessments/simple_form.html", {"form": form, "title": "New AI system"})


@login_required
@permissions.engineer_required
def version_create(request, slug: str):
    return _version_edit(request, slug, None)


@login_required
@permissions.engineer_required
def version_edit(request, slug: str, version: str):
    return _version_edit(request, slug, version)


def _version_edit(request, slug: str, label: str | None):
    system = get_object_or_404(AiSystem.objects.select_related("team"), slug=slug)
    permissions.check_can_edit_team(request.user, system.team)
    instance = None
    if label is not None:
        instance = get_object_or_404(AiSystemVersion, system=system, version=label)
    form = VersionForm(request.POST or None, system=system, instance=instance)
    if request.method == "POST" and form.is_valid():
        fields = form.service_fields()
        admin = permissions.is_admin(request.user)
        try:
            services.version_save(
                system=system, instance=instance, allow_other_teams=admin, **fields
            )
        except services.AiSystemError as exc:
            field = exc.field if exc.field in form.fields else None
            form.add_error(field, str(exc))
        else:
            messages.success(request, f"Version {fields['version']} saved.")
            return redirect("ai_system_detail", system.slug)
    title = f"{system.name}: " + (f"version {label}" if label else "new version")
    return render(
        request, "assessments/simple_form.html", {"form": form, "title": title}, status=200
    )
