"""/api/codecarbon/: the calls CodeCarbon's API output makes (codecarbon 3.x ApiClient).

The tracker's `api_key` is a GreenAI collector token sent in the `x-api-token` header. Errors
answer {"detail": ..., "error": ..., "details": [{field, message}]}: `detail` is what
CodeCarbon's own server answers (the client logs the body), the others are GreenAI's shape.
"""

import logging

from django.db import OperationalError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pydantic import ValidationError

from assessments import permissions
from assessments.api_auth import api_login_required, json_error
from assessments.codecarbon.schemas import (
    ExperimentMapping,
    ExperimentMappingIn,
    ExperimentMappingList,
)
from assessments.codecarbon.selectors import experiments_of_project
from assessments.codecarbon.services import (
    CodeCarbonError,
    emission_add,
    experiment_register,
    run_create,
)
from assessments.models import CodeCarbonExperiment, Project, Site
from collectors.schemas import error_details
from collectors.selectors import collector_for_token
from greenai_site.openapi import api_operation

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024


def _error(status: int, message: str, details: list | None = None) -> JsonResponse:
    return JsonResponse(
        {"detail": message, "error": message, "details": details or []}, status=status
    )


def _collector(request):
    token = request.headers.get("x-api-token", "").strip()
    if not token:
        raise CodeCarbonError(
            401, "Send the GreenAI collector token as the tracker's api_key (x-api-token)."
        )
    collector = collector_for_token(token)
    if collector is None:
        raise CodeCarbonError(401, "Unknown collector token (api_key).")
    if collector.is_revoked:
        raise CodeCarbonError(401, f"The token of collector {collector.name!r} is revoked.")
    return collector


def _answer(handler):
    try:
        return handler()
    except CodeCarbonError as exc:
        return _error(exc.status, exc.error, exc.details)
    except OperationalError:
        logger.exception("CodeCarbon API call failed on the database.")
        return _error(503, "The database is busy; retry later.")


def _body(request) -> bytes:
    if len(request.body) > MAX_BODY_BYTES:
        raise CodeCarbonError(413, f"The body is over {MAX_BODY_BYTES} bytes.")
    return request.body


@csrf_exempt
@require_POST
def runs(request):
    """POST /runs -> 201 {"id": run id, "experiment_id": ...}."""

    def handle():
        collector = _collector(request)
        run = run_create(collector=collector, body=_body(request))
        return JsonResponse(
            {
                "id": run.run_id,
                "experiment_id": run.experiment_ref,
                "timestamp": run.started_at.isoformat(),
            },
            status=201,
        )

    return _answer(handle)


@csrf_exempt
@require_POST
def emissions(request):
    """POST /emissions -> 201 (also for an interval already stored: nothing is stored twice)."""

    def handle():
        collector = _collector(request)
        result = emission_add(collector=collector, body=_body(request))
        return JsonResponse(
            {
                "id": str(result.emission.pk),
                "run_id": result.emission.run.run_id,
                "duplicate": not result.created,
            },
            status=201,
        )

    return _answer(handle)


@require_GET
def experiment(request, experiment_id):
    """GET /experiments/<id>: the registered experiment, as CodeCarbon's server describes one."""

    def handle():
        collector = _collector(request)
        mapping = (
            CodeCarbonExperiment.objects.select_related("project", "site")
            .filter(experiment_id=experiment_id)
            .first()
        )
        if mapping is None:
            raise CodeCarbonError(404, f"Experiment {experiment_id} is not registered in GreenAI.")
        if getattr(collector, "team_id", None) not in (None, mapping.project.team_id):
            raise CodeCarbonError(403, "The experiment belongs to a project of another team.")
        site = mapping.site
        return JsonResponse(
            {
                "id": str(mapping.experiment_id),
                "timestamp": mapping.created_at.isoformat(),
                "name": mapping.project.name,
                "description": f"GreenAI project {mapping.project.slug}",
                "on_cloud": bool(site and ":" in site.grid_zone),
                "project_id": mapping.project.slug,
                "country_name": None,
                "country_iso_code": site.grid_zone if site and ":" not in site.grid_zone else None,
                "region": None,
                "cloud_provider": site.grid_zone.split(":", 1)[0]
                if site and ":" in site.grid_zone
                else None,
                "cloud_region": site.grid_zone.split(":", 1)[1]
                if site and ":" in site.grid_zone
                else None,
            }
        )

    return _answer(handle)


# --- The read/write API: experiment mappings of a project -----------------------------------


def _mapping_json(mapping: CodeCarbonExperiment) -> dict:
    return {
        "id": str(mapping.experiment_id),
        "project": mapping.project.slug,
        "phase": mapping.effective_phase,
        "phase_set": mapping.phase or None,
        "site": mapping.site.name if mapping.site else None,
        "created_at": mapping.created_at.isoformat(),
    }


@api_operation(
    method="GET",
    summary="CodeCarbon experiments mapped to a project.",
    tag="codecarbon",
    response=ExperimentMappingList,
    statuses={401: "Not logged in, or bad/revoked token.", 404: "Unknown project."},
)
@api_operation(
    method="POST",
    summary="Map a CodeCarbon experiment to a project (engineers of its team, admins).",
    tag="codecarbon",
    request=ExperimentMappingIn,
    response=ExperimentMapping,
    statuses={
        200: "Already mapped so: nothing changed.",
        201: "Mapped.",
        400: "Bad id, phase or site: {error, details: [{field, message}]}.",
        401: "Not logged in, or bad/revoked token.",
        403: "Not an engineer of the project's team.",
        404: "Unknown project.",
        409: "The experiment is mapped to another project.",
    },
)
@api_login_required
@require_http_methods(["GET", "POST"])
def project_experiments(request, slug: str):
    """GET: the project's CodeCarbon experiments. POST {"id", "phase"?, "site"?}: map one
    (engineers of the project's team, admins); 201 when new, 200 when it already was."""
    project = Project.objects.select_related("team").filter(slug=slug).first()
    if project is None:
        return json_error(404, f"No project with slug {slug!r}.")
    if request.method == "GET":
        mappings = experiments_of_project(project).select_related("project")
        return JsonResponse({"experiments": [_mapping_json(m) for m in mappings]})
    if not permissions.can_edit_team(request.user, project.team):
        return json_error(
            403, "Only engineers of the project's team and admins may map experiments."
        )
    try:
        mapping_in = ExperimentMappingIn.model_validate_json(request.body or b"null")
    except ValidationError as exc:
        details = error_details(exc)
        if not details or exc.errors()[0]["type"] in ("json_invalid", "model_type"):
            return json_error(400, 'The body must be a JSON object {"id": "<uuid>"}.', details)
        names = ", ".join(d["field"] for d in details)
        return json_error(400, f"Invalid field(s) {names}.", details)
    site = None
    if mapping_in.site:
        site = Site.objects.filter(name=mapping_in.site).first()
        if site is None:
            return json_error(
                400,
                f"No site named {mapping_in.site!r}.",
                [{"field": "site", "message": "unknown site"}],
            )
    try:
        mapping, created = experiment_register(
            project=project,
            experiment_id=mapping_in.id,
            phase=mapping_in.phase,
            site=site,
            created_by=request.user,
        )
    except CodeCarbonError as exc:
        return json_error(exc.status, exc.error, exc.details)
    return JsonResponse(_mapping_json(mapping), status=201 if created else 200)
