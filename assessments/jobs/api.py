"""GET /api/v1/jobs: energy, carbon and GPU-hours per Slurm job or Kubernetes pod."""

from django.http import JsonResponse
from django.views.decorators.http import require_GET
from pydantic import BaseModel, Field

from assessments.api_auth import api_login_required, json_error
from assessments.footprint.api import (
    FOOTPRINT_STATUSES,
    PERIOD_QUERY,
    BadRequest,
    period_from_query,
)
from assessments.jobs.selectors import jobs_list
from assessments.models import AiSystem, Organisation, Project
from greenai_site.openapi import api_operation

MAX_JOBS = 1000


class Job(BaseModel):
    job: str = Field(description="Identity: 'job:<Slurm id>' or 'pod:<namespace>/<pod>'.")
    job_id: str = Field(description="Slurm job id, empty for a pod.")
    user: str = Field(description="Slurm user, empty where unknown.")
    account: str = Field(description="Slurm account, empty where unknown.")
    namespace: str = Field(description="Kubernetes namespace, empty for a Slurm job.")
    pod: str = Field(description="Kubernetes pod, empty for a Slurm job.")
    project: str | None = Field(description="Project slug its energy went to; null: unallocated.")
    energy_kwh: float = Field(description="IT energy, kWh.")
    facility_energy_kwh: float = Field(description="IT energy x PUE, kWh.")
    operational_kgco2e: float
    embodied_kgco2e: float
    total_kgco2e: float
    cost: float = Field(description="In `currency`.")
    gpu_hours: float = Field(description="Device-hours used (its share of each device's time).")
    devices: int = Field(description="Devices it used in the period.")
    first_seen: str = Field(description="Start of the first hour with its samples (UTC).")
    last_seen: str = Field(description="End of the last hour with its samples (UTC).")


class JobList(BaseModel):
    start: str
    end: str
    currency: str
    jobs: list[Job] = Field(description=f"Largest IT energy first, at most {MAX_JOBS}.")


class _RefusedFilter(Exception):
    def __init__(self, status: int, field: str, message: str):
        super().__init__(message)
        self.status, self.field = status, field


def _versions(request):
    """The versions named by `model` and `version` (None: no such filter)."""
    slug, label = request.GET.get("model"), request.GET.get("version")
    if not slug:
        if label:
            raise _RefusedFilter(400, "version", "Name the model (AI system) of the version too.")
        return None
    model = AiSystem.objects.filter(slug=slug).first()
    if model is None:
        raise _RefusedFilter(404, "model", f"No model (AI system) with slug {slug!r}.")
    if not label:
        return model.versions.all()
    version = model.versions.filter(version=label).first()
    if version is None:
        raise _RefusedFilter(404, "version", f"{model.slug} has no version {label!r}.")
    return [version]


@api_operation(
    method="GET",
    summary="Jobs (Slurm jobs, Kubernetes pods) with their energy over a period",
    tag="jobs",
    query={
        **PERIOD_QUERY,
        "project": "Only jobs attributed to this project (slug).",
        "user": "Only this user's jobs.",
        "namespace": "Only the pods of this Kubernetes namespace.",
        "model": "Only the hours of jobs on the producing and serving windows of this AI "
        "system's versions (its slug).",
        "version": "With `model`: only that version's windows.",
    },
    response=JobList,
    statuses={
        **FOOTPRINT_STATUSES,
        400: FOOTPRINT_STATUSES[400] + " A version without its model.",
        404: "Unknown project, model or version.",
    },
)
@api_login_required
@require_GET
def job_list(request):
    try:
        start, end = period_from_query(request)
    except BadRequest as exc:
        return json_error(400, str(exc), exc.details)
    project = None
    slug = request.GET.get("project")
    if slug:
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            return json_error(
                404, f"No project with slug {slug!r}.", [{"field": "project", "message": "unknown"}]
            )
    try:
        versions = _versions(request)
    except _RefusedFilter as exc:
        return json_error(exc.status, str(exc), [{"field": exc.field, "message": str(exc)}])
    rows = jobs_list(
        start=start,
        end=end,
        project=project,
        user=request.GET.get("user") or None,
        namespace=request.GET.get("namespace") or None,
        versions=versions,
        limit=MAX_JOBS,
    )
    answer = JobList(
        start=start.isoformat(),
        end=end.isoformat(),
        currency=Organisation.get().currency,
        jobs=[
            Job(
                job=row["job_key"],
                job_id=row["job_id"],
                user=row["user"],
                account=row["account"],
                namespace=row["namespace"],
                pod=row["pod"],
                project=row["project_slug"],
                energy_kwh=row["energy_it_kwh"],
                facility_energy_kwh=row["energy_facility_kwh"],
                operational_kgco2e=row["operational_kgco2e"],
                embodied_kgco2e=row["embodied_kgco2e"],
                total_kgco2e=row["total_kgco2e"],
                cost=row["cost"],
                gpu_hours=row["gpu_hours"],
                devices=row["devices"],
                first_seen=row["first_seen"].isoformat(),
                last_seen=row["last_seen"].isoformat(),
            )
            for row in rows
        ],
    )
    return JsonResponse(answer.model_dump(mode="json"))
