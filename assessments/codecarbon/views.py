"""The project page's CodeCarbon panel: mapping experiments, uploading emissions.csv.

Thin views: writes go through assessments.codecarbon.services after the team check
(assessments.permissions); the panel's data comes from `codecarbon_panel`.
"""

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from assessments import permissions
from assessments.codecarbon.emissions_csv import CsvError
from assessments.codecarbon.forms import EmissionsCsvForm, ExperimentForm
from assessments.codecarbon.selectors import (
    codecarbon_footprint,
    experiments_of_project,
    recent_runs_of_project,
)
from assessments.codecarbon.services import (
    CodeCarbonError,
    codecarbon_csv_import,
    experiment_register,
    experiment_unregister,
)
from assessments.footprint.selectors import as_utc_datetime
from assessments.models import CodeCarbonExperiment, Project


def codecarbon_panel(request, *, project: Project, start: date, end: date, can_edit: bool):
    """What the project page shows of CodeCarbon over the page's period."""
    reported = codecarbon_footprint(
        start=as_utc_datetime(start), end=as_utc_datetime(end), project=project
    )
    return {
        "reported": reported["summary"],
        "experiments": experiments_of_project(project),
        "runs": recent_runs_of_project(project),
        "endpoint": request.build_absolute_uri(reverse("codecarbon_runs")).removesuffix("/runs"),
        "experiment_form": ExperimentForm() if can_edit else None,
        "upload_form": EmissionsCsvForm() if can_edit else None,
    }


def _editable_project(request, slug: str) -> Project:
    project = get_object_or_404(Project.objects.select_related("team"), slug=slug)
    permissions.check_can_edit_team(request.user, project.team)
    return project


def _back(project: Project):
    return redirect(reverse("project_detail", args=[project.slug]) + "#codecarbon")


@login_required
@permissions.engineer_required
@require_POST
def experiment_create(request, slug: str):
    project = _editable_project(request, slug)
    form = ExperimentForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        return _back(project)
    try:
        mapping, created = experiment_register(
            project=project,
            experiment_id=form.experiment_uuid(),
            phase=form.cleaned_data["phase"],
            site=form.cleaned_data["site"],
            created_by=request.user,
        )
    except CodeCarbonError as exc:
        messages.error(request, exc.error)
        return _back(project)
    verb = "registered" if created else "updated"
    messages.success(request, f"CodeCarbon experiment {mapping.experiment_id} {verb}.")
    return _back(project)


@login_required
@permissions.engineer_required
@require_POST
def experiment_delete(request, slug: str, pk: int):
    project = _editable_project(request, slug)
    mapping = get_object_or_404(CodeCarbonExperiment, pk=pk, project=project)
    experiment_unregister(experiment=mapping)
    messages.success(request, f"Experiment {mapping.experiment_id} removed; its runs stay.")
    return _back(project)


@login_required
@permissions.engineer_required
@require_POST
def emissions_upload(request, slug: str):
    project = _editable_project(request, slug)
    form = EmissionsCsvForm(request.POST, request.FILES)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        return _back(project)
    try:
        result = codecarbon_csv_import(
            text=form.cleaned_data["file"], project=project, naive_tz=form.cleaned_data["timezone"]
        )
    except CsvError as exc:
        messages.error(request, f"Nothing imported: {exc}")
        return _back(project)
    messages.success(
        request,
        f"Imported {result.rows} row(s) of {result.runs} run(s): {result.intervals_stored} new "
        f"interval(s), {result.energy_kwh_stored:.4g} kWh.",
    )
    return _back(project)
