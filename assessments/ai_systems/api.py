"""The AI systems API: models with their versions, a new version, a version's lifecycle
footprint (docs/methodology.md, "AI systems: a version's lifecycle footprint").

Every logged-in reader sees every model (as every footprint of the read API); only engineers of
the model's team and admins add versions, and only with a session or a `work` token.
"""

from django.http import JsonResponse
from django.views.decorators.http import require_GET, require_POST
from pydantic import ValidationError

from assessments import permissions
from assessments.ai_systems import schemas
from assessments.ai_systems.selectors import version_footprint
from assessments.ai_systems.services import AiSystemError, ProjectWindow, version_save
from assessments.api_auth import api_login_required, json_error, token_may
from assessments.footprint.api import PERIOD_QUERY, BadRequest, period_from_query
from assessments.footprint.scope_figures import api_ranges
from assessments.footprint.selectors import as_utc_datetime
from assessments.models import AiSystem, AiSystemVersion, ApiToken, Organisation, Project
from greenai_site.openapi import api_operation

STATUSES = {
    401: "Not logged in, or bad/revoked token.",
    405: "Method not allowed (the Allow header names the methods the path declares).",
}


def _figures(figures) -> schemas.VersionFigures:
    return schemas.VersionFigures(
        energy_kwh=figures.energy_it_kwh,
        facility_energy_kwh=figures.energy_facility_kwh,
        operational_kgco2e=figures.operational_kgco2e,
        embodied_kgco2e=figures.embodied_kgco2e,
        total_kgco2e=figures.total_kgco2e,
        cost=figures.cost,
        gpu_hours=figures.gpu_hours,
        work_units=figures.work_units,
        sci=figures.sci,
        coverage=figures.coverage,
        ranges=api_ranges(figures.all_ranges),
    )


def _parts(parts) -> list[schemas.VersionPartOut]:
    return [
        schemas.VersionPartOut(
            project=part.project_slug,
            start=part.start,
            end=part.end,
            share=part.share,
            total_kgco2e=part.figures.total_kgco2e,
        )
        for part in parts
    ]


def footprint_out(result, *, start, end) -> schemas.VersionFootprintOut:
    return schemas.VersionFootprintOut(
        model=result.system_slug,
        version=result.version,
        model_name=result.model_name,
        parent=result.parent_version,
        relation=result.relation,
        start=start,
        end=end,
        currency=Organisation.get().currency,
        one_off=_figures(result.one_off),
        serving=_figures(result.serving),
        requests=result.requests,
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        requests_to_date=result.requests_to_date,
        planned_requests=result.planned_requests,
        amortisation_requests=result.amortisation_requests,
        amortised_one_off_kgco2e_per_request=result.amortised_one_off_kgco2e_per_request,
        energy_kwh_per_1m_output_tokens=result.energy_kwh_per_1m_output_tokens,
        kgco2e_per_1k_requests=result.kgco2e_per_1k_requests,
        lifecycle_kgco2e_per_1k_requests=result.lifecycle_kgco2e_per_1k_requests,
        ranges={
            name: None if bounds is None else {"low": bounds.low, "high": bounds.high}
            for name, bounds in result.ranges.items()
        },
        lineage=[
            schemas.LineageOut(
                version=step.version, relation=step.relation, one_off_kgco2e=step.one_off_kgco2e
            )
            for step in result.lineage
        ],
        lineage_lines=result.lineage_lines,
        one_off_parts=_parts(result.one_off_parts),
        serving_parts=_parts(result.serving_parts),
    )


def version_out(version: AiSystemVersion) -> schemas.VersionOut:
    windows = {role: [] for role in ("produced_by", "served_by")}
    for window in version.windows.all():
        windows[window.role].append(
            schemas.WindowOut(project=window.project.slug, start=window.start, end=window.end)
        )
    return schemas.VersionOut(
        version=version.version,
        parent=version.parent.version if version.parent_id else None,
        relation=version.relation,
        model_name=version.model_name,
        planned_requests=version.planned_requests,
        quality_metric=version.quality_metric,
        quality_value=version.quality_value,
        latency_p50_ms=version.latency_p50_ms,
        latency_p95_ms=version.latency_p95_ms,
        **windows,
    )


@api_operation(
    method="GET",
    summary="AI systems (models) with their versions and the projects that produced and serve them",
    tag="ai_systems",
    response=schemas.ModelList,
    statuses=STATUSES,
)
@api_login_required
@require_GET
def model_list(request):
    systems = AiSystem.objects.select_related("team").prefetch_related(
        "versions__parent", "versions__windows__project"
    )
    body = schemas.ModelList(
        count=len(systems),
        models=[
            schemas.ModelOut(
                slug=system.slug,
                name=system.name,
                team=system.team.slug,
                versions=[version_out(v) for v in system.versions.all()],
            )
            for system in systems
        ],
    )
    return JsonResponse(body.model_dump(mode="json"))


@api_operation(
    method="POST",
    summary="Add a version to a model (engineers of its team and admins)",
    tag="ai_systems",
    request=schemas.VersionCreate,
    response=schemas.VersionOut,
    statuses={
        201: "Created.",
        400: "Bad body, an unknown parent or project, a window ending before it starts, or a "
        "version served by a project at the same time as another without distinct model_names "
        "(the message names both).",
        401: "Not logged in, or bad/revoked token.",
        403: "Viewers, engineers of other teams (or linking another team's project) and "
        "read-only tokens may not add versions.",
        404: "Unknown model.",
        405: "Method not allowed (the Allow header names POST).",
    },
)
@api_login_required
@require_POST
def version_create(request, slug: str):
    system = AiSystem.objects.select_related("team").filter(slug=slug).first()
    if system is None:
        return json_error(404, f"No model with slug {slug!r}.")
    if not token_may(request, ApiToken.Scope.WORK):
        return json_error(403, "This API token may only read: use a token with the 'work' scope.")
    if not permissions.can_edit_team(request.user, system.team):
        return json_error(403, "Only engineers of the model's team and admins may add versions.")
    try:
        body = schemas.VersionCreate.model_validate_json(request.body or b"")
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
        message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        return json_error(400, f"Bad version: {message}", details)
    admin = permissions.is_admin(request.user)
    windows = {}
    for role in ("produced_by", "served_by"):
        windows[role] = []
        for index, window in enumerate(getattr(body, role)):
            project = Project.objects.filter(slug=window.project).first()
            field = f"{role}.{index}.project"
            if project is None:
                return json_error(
                    400,
                    f"{field}: no project with slug {window.project!r}.",
                    [{"field": field, "message": "unknown project"}],
                )
            if project.team_id != system.team_id and not admin:
                return json_error(
                    403,
                    f"{field}: project {project.slug} is not team {system.team.slug}'s; only an "
                    "admin may link another team's project.",
                )
            windows[role].append(
                ProjectWindow(
                    project=project,
                    start=as_utc_datetime(window.start),
                    end=as_utc_datetime(window.end) if window.end else None,
                )
            )
    parent = None
    if body.parent is not None:
        parent = AiSystemVersion.objects.filter(system=system, version=body.parent).first()
        if parent is None:
            return json_error(
                400,
                f"parent: {system.slug} has no version {body.parent!r}.",
                [{"field": "parent", "message": "unknown version"}],
            )
    try:
        version = version_save(
            system=system,
            version=body.version,
            parent=parent,
            relation=body.relation or "",
            model_name=body.model_name,
            planned_requests=body.planned_requests,
            quality_metric=body.quality_metric,
            quality_value=body.quality_value,
            latency_p50_ms=body.latency_p50_ms,
            latency_p95_ms=body.latency_p95_ms,
            allow_other_teams=admin,
            **windows,
        )
    except AiSystemError as exc:
        return json_error(400, str(exc), [{"field": exc.field, "message": str(exc)}])
    return JsonResponse(version_out(version).model_dump(mode="json"), status=201)


@api_operation(
    method="GET",
    summary="A model version's lifecycle footprint: one-off, serving, amortised per request",
    tag="ai_systems",
    query=PERIOD_QUERY,
    response=schemas.VersionFootprintOut,
    statuses={
        **STATUSES,
        400: "Missing or bad start/end, end before start, or a control character in a query "
        "parameter.",
        404: "Unknown model or version.",
    },
)
@api_login_required
@require_GET
def version_footprint_view(request, slug: str, version: str):
    found = (
        AiSystemVersion.objects.select_related("system", "parent")
        .filter(system__slug=slug, version=version)
        .first()
    )
    if found is None:
        return json_error(404, f"No version {version!r} of a model with slug {slug!r}.")
    try:
        start, end = period_from_query(request)
    except BadRequest as exc:
        return json_error(400, str(exc), exc.details)
    result = version_footprint(found, start=start, end=end)
    return JsonResponse(footprint_out(result, start=start, end=end).model_dump(mode="json"))
