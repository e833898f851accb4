"""The read API: footprints of projects, teams and the organisation, work units, OpenAPI.

Views are thin: parse the query, call a selector or service, serialise with a pydantic model.
Errors are JSON {"error": ..., "details": [...]} naming the parameter at fault.
"""

import re
from datetime import date

from django.http import JsonResponse
from django.views.decorators.http import require_GET, require_POST
from pydantic import ValidationError

from assessments import permissions
from assessments.api_auth import api_login_required, json_error, token_may
from assessments.footprint.schemas import (
    FootprintFactors,
    OrganisationFootprint,
    ProjectFootprint,
    TeamFootprint,
    WorkRecorded,
    WorkRequest,
)
from assessments.footprint.scope_figures import API_RANGE_NAMES
from assessments.footprint.selectors import footprint, footprint_factors
from assessments.models import ApiToken, Organisation, Project, Site, Team
from assessments.organisation.services import WorkRecordError, work_record_create
from greenai_site.openapi import Query, api_operation, build_schema

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PERIOD_QUERY = {
    "start": Query("First UTC day, YYYY-MM-DD.", required=True, format="date"),
    "end": Query(
        "UTC day after the last one, YYYY-MM-DD, exclusive; not before start (end = start is an "
        "empty period, with zero figures).",
        required=True,
        format="date",
    ),
}
FOOTPRINT_STATUSES = {
    400: "Missing or bad start/end, end before start (a rule OpenAPI cannot state), or a "
    "control character in a query parameter.",
    401: "Not logged in, or bad/revoked token.",
    405: "Method not allowed (the Allow header names GET).",
}


class BadRequest(Exception):
    def __init__(self, message: str, details: list | None = None):
        super().__init__(message)
        self.details = details or []


def _parse_day(request, name: str) -> date:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        raise BadRequest(
            f"Query parameter '{name}' is required (YYYY-MM-DD).",
            [{"field": name, "message": "required"}],
        )
    try:
        if not _DATE.match(raw):
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(
            f"Query parameter '{name}' must be a date YYYY-MM-DD, got {raw!r}.",
            [{"field": name, "message": "not a date YYYY-MM-DD"}],
        ) from None


def period_from_query(request) -> tuple[date, date]:
    errors = []
    days = {}
    for name in ("start", "end"):
        try:
            days[name] = _parse_day(request, name)
        except BadRequest as exc:
            errors.append((str(exc), exc.details))
    if errors:
        raise BadRequest(" ".join(msg for msg, _ in errors), [d for _, ds in errors for d in ds])
    # end = start is the empty period (end is exclusive): zero figures, not an error.
    if days["end"] < days["start"]:
        raise BadRequest(
            "'end' must not be before 'start' (end is exclusive; end = start is an empty period).",
            [{"field": "end", "message": "must not be before start"}],
        )
    return days["start"], days["end"]


def _figures(*, start: date, end: date, **scope) -> dict:
    """The scope's figures over [start, end); [start, start) is the empty period, in which
    nothing was measured, used or recorded: zero figures, no SCI, no coverage."""
    if end > start:
        return footprint(start=start, end=end, **scope)
    empty = dict.fromkeys(
        (
            "energy_kwh",
            "facility_energy_kwh",
            "operational_kgco2e",
            "embodied_kgco2e",
            "total_kgco2e",
            "cost",
            "gpu_hours",
            "work_units",
        ),
        0.0,
    )
    empty.update(sci=None, coverage=None, codecarbon=None, currency=Organisation.get().currency)
    empty["ranges"] = {
        name: {"low": 0.0, "high": 0.0} for name in API_RANGE_NAMES.values() if name != "sci"
    } | {"sci": None}
    empty["range_drivers"] = []
    if not scope.get("project") and not scope.get("team"):
        empty.update(unallocated_energy_kwh=0.0, unallocated_embodied_kgco2e=0.0)
    return empty


def _factors(**filters) -> FootprintFactors:
    return FootprintFactors(**footprint_factors(**filters))


def _respond(model) -> JsonResponse:
    return JsonResponse(model.model_dump(mode="json"))


@api_operation(
    method="GET",
    summary="Footprint of one project over a period",
    tag="footprint",
    query=PERIOD_QUERY,
    response=ProjectFootprint,
    statuses={**FOOTPRINT_STATUSES, 404: "Unknown project."},
)
@api_login_required
@require_GET
def project_footprint(request, slug: str):
    project = Project.objects.select_related("team").filter(slug=slug).first()
    if project is None:
        return json_error(404, f"No project with slug {slug!r}.")
    try:
        start, end = period_from_query(request)
    except BadRequest as exc:
        return json_error(400, str(exc), exc.details)
    figures = _figures(start=start, end=end, project=project)
    return _respond(
        ProjectFootprint(
            start=start,
            end=end,
            project=project.slug,
            team=project.team.slug,
            phase=project.phase,
            work_unit=project.work_unit,
            work_kind=project.work_kind,
            factors=_factors(start=start, end=end, project=project),
            **figures,
        )
    )


@api_operation(
    method="GET",
    summary="Footprint of one team's projects over a period",
    tag="footprint",
    query=PERIOD_QUERY,
    response=TeamFootprint,
    statuses={**FOOTPRINT_STATUSES, 404: "Unknown team."},
)
@api_login_required
@require_GET
def team_footprint(request, slug: str):
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        return json_error(404, f"No team with slug {slug!r}.")
    try:
        start, end = period_from_query(request)
    except BadRequest as exc:
        return json_error(400, str(exc), exc.details)
    figures = _figures(start=start, end=end, team=team)
    return _respond(
        TeamFootprint(
            start=start,
            end=end,
            team=team.slug,
            factors=_factors(start=start, end=end, team=team),
            **figures,
        )
    )


@api_operation(
    method="GET",
    summary="Footprint of the whole organisation over a period, with what no project used",
    tag="footprint",
    query={**PERIOD_QUERY, "site": "Only this site (its name); optional."},
    response=OrganisationFootprint,
    statuses={**FOOTPRINT_STATUSES, 404: "Unknown site."},
)
@api_login_required
@require_GET
def organisation_footprint(request):
    try:
        start, end = period_from_query(request)
    except BadRequest as exc:
        return json_error(400, str(exc), exc.details)
    site = None
    if request.GET.get("site"):
        site = Site.objects.filter(name=request.GET["site"]).first()
        if site is None:
            return json_error(
                404,
                f"No site named {request.GET['site']!r}.",
                [{"field": "site", "message": "unknown site"}],
            )
    figures = _figures(start=start, end=end, site=site)
    return _respond(
        OrganisationFootprint(
            start=start,
            end=end,
            organisation=Organisation.get().name,
            site=site.name if site else None,
            factors=_factors(start=start, end=end, site=site),
            **figures,
        )
    )


def _validation_details(exc: ValidationError) -> list[dict]:
    details = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "body"
        details.append({"field": field, "message": error["msg"]})
    return details


@api_operation(
    method="POST",
    summary="Record units of useful work of a project (engineers of its team and admins)",
    tag="work",
    request=WorkRequest,
    response=WorkRecorded,
    statuses={
        201: "Recorded.",
        400: "Bad body (names each bad field).",
        401: "Not logged in, or bad/revoked token.",
        403: "Viewers, engineers of other teams and read-only tokens may not record work.",
        404: "Unknown project.",
        405: "Method not allowed (the Allow header names POST).",
    },
)
@api_login_required
@require_POST
def project_work(request, slug: str):
    project = Project.objects.select_related("team").filter(slug=slug).first()
    if project is None:
        return json_error(404, f"No project with slug {slug!r}.")
    if not token_may(request, ApiToken.Scope.WORK):
        return json_error(
            403,
            "This API token may only read: create a token with the 'work' scope to record work.",
        )
    if not permissions.can_edit_team(request.user, project.team):
        return json_error(
            403, "Only engineers of the project's team and admins may record work units."
        )
    try:
        body = WorkRequest.model_validate_json(request.body or b"")
    except ValidationError as exc:
        details = _validation_details(exc)
        message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        return json_error(400, f"Bad work record: {message}", details)
    start = body.ts if body.ts is not None else body.start
    end = body.ts if body.ts is not None else body.end
    try:
        record = work_record_create(
            project=project,
            units=body.units,
            start=start,
            end=end,
            created_by=request.user,
            note=body.note,
            kind=body.kind,
        )
    except WorkRecordError as exc:
        return json_error(400, str(exc))
    payload = WorkRecorded(
        id=record.pk,
        project=project.slug,
        units=record.units,
        kind=record.kind,
        start=record.period_start,
        end=record.period_end,
    )
    return JsonResponse(payload.model_dump(mode="json"), status=201)


@api_operation(
    method="GET",
    summary="This API's OpenAPI 3.1 schema",
    tag="meta",
    auth="none",
    statuses={405: "Method not allowed (the Allow header names GET)."},
)
@require_GET
def openapi_schema(request):
    return JsonResponse(build_schema())
