"""Writes of AI systems and their versions: every check here, so that forms, the API and the
inventory refuse the same things with the same words, and nothing is half-stored.

Callers check who asks (assessments.permissions); `allow_other_teams` is an admin's choice to
link another team's project, as `allocation_create`'s `allow_cross_team` is.
"""

import math
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q

from assessments.ai_systems import lifecycle_math as lm
from assessments.models import (
    AiSystem,
    AiSystemVersion,
    Project,
    Team,
    VersionProject,
    VersionRelation,
)

Role = VersionProject.Role


class AiSystemError(ValueError):
    """A write refused; `field` names what is wrong (a form field, an API or inventory key)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ProjectWindow:
    """A project that produced or serves a version over [start, end); end None: open-ended."""

    project: Project
    start: datetime
    end: datetime | None = None


def ai_system_create(*, slug: str, name: str, team: Team) -> AiSystem:
    if AiSystem.objects.filter(slug=slug).exists():
        raise AiSystemError(f"An AI system with slug {slug!r} already exists.", "slug")
    try:
        with transaction.atomic():
            return AiSystem.objects.create(slug=slug, name=name, team=team)
    except IntegrityError:
        raise AiSystemError(f"An AI system with slug {slug!r} already exists.", "slug") from None


def ai_system_update(
    *, system: AiSystem, slug: str, name: str, team: Team, allow_other_teams: bool = False
) -> AiSystem:
    if AiSystem.objects.filter(slug=slug).exclude(pk=system.pk).exists():
        raise AiSystemError(f"An AI system with slug {slug!r} already exists.", "slug")
    if team.pk != system.team_id and not allow_other_teams:
        foreign = (
            VersionProject.objects.filter(version__system=system)
            .exclude(project__team=team)
            .select_related("project")
            .first()
        )
        if foreign is not None:
            raise AiSystemError(
                f"Project {foreign.project.slug} of a version is not team {team.slug}'s: "
                "only an admin may link another team's project.",
                "team",
            )
    with transaction.atomic():
        system.slug, system.name, system.team = slug, name, team
        system.save(update_fields=["slug", "name", "team"])
    return system


def version_save(
    *,
    system: AiSystem,
    version: str,
    produced_by: list[ProjectWindow],
    served_by: list[ProjectWindow],
    instance: AiSystemVersion | None = None,
    parent: AiSystemVersion | None = None,
    relation: str = "",
    model_name: str = "",
    planned_requests: int | None = None,
    quality_metric: str = "",
    quality_value: float | None = None,
    latency_p50_ms: float | None = None,
    latency_p95_ms: float | None = None,
    allow_other_teams: bool = False,
) -> AiSystemVersion:
    """Create (instance None) or update a version with its producing and serving windows,
    replacing the stored windows; all checked first, written in one transaction."""
    version = (version or "").strip()
    if not version:
        raise AiSystemError("A version needs a version string.", "version")
    same = AiSystemVersion.objects.filter(system=system, version=version)
    if instance is not None:
        same = same.exclude(pk=instance.pk)
    if same.exists():
        raise AiSystemError(f"{system.slug} already has a version {version!r}.", "version")
    _check_parent(system=system, instance=instance, parent=parent, relation=relation)
    _check_numbers(
        planned_requests=planned_requests,
        quality_value=quality_value,
        latency_p50_ms=latency_p50_ms,
        latency_p95_ms=latency_p95_ms,
    )
    for role, windows in ((Role.PRODUCED_BY, produced_by), (Role.SERVED_BY, served_by)):
        _check_windows(
            system=system, role=role, windows=windows, allow_other_teams=allow_other_teams
        )
    with transaction.atomic():
        # Two versions saved at once onto one serving project: the project rows' lock makes the
        # second see the first's windows.
        projects = sorted({w.project.pk for w in served_by})
        list(Project.objects.select_for_update().filter(pk__in=projects).order_by("pk"))
        _check_serving_overlaps(
            system=system,
            instance=instance,
            label=version,
            model_name=model_name,
            served_by=served_by,
        )
        if instance is None:
            instance = AiSystemVersion(system=system)
        instance.version = version
        instance.parent = parent
        instance.relation = relation or ""
        instance.model_name = model_name or ""
        instance.planned_requests = planned_requests
        instance.quality_metric = quality_metric or ""
        instance.quality_value = quality_value
        instance.latency_p50_ms = latency_p50_ms
        instance.latency_p95_ms = latency_p95_ms
        instance.save()
        instance.windows.all().delete()
        VersionProject.objects.bulk_create(
            [
                VersionProject(
                    version=instance, role=role, project=w.project, start=w.start, end=w.end
                )
                for role, windows in ((Role.PRODUCED_BY, produced_by), (Role.SERVED_BY, served_by))
                for w in windows
            ]
        )
    return instance


def version_delete(*, version: AiSystemVersion) -> None:
    if version.children.exists():
        raise AiSystemError(
            f"Version {version.version} is the parent of "
            + ", ".join(child.version for child in version.children.all())
            + ": delete or re-parent them first.",
            "version",
        )
    version.delete()


# --- checks ------------------------------------------------------------------------------------


def _check_parent(*, system, instance, parent, relation) -> None:
    if relation and relation not in VersionRelation.values:
        raise AiSystemError(
            f"Relation must be one of {', '.join(VersionRelation.values)}; got {relation!r}.",
            "relation",
        )
    if parent is None:
        if relation:
            raise AiSystemError(
                "A relation says how a version came from its parent: name the parent too.", "parent"
            )
        return
    if parent.system_id != system.pk:
        raise AiSystemError(
            f"The parent {parent} is a version of another AI system than {system.slug}.", "parent"
        )
    if not relation:
        raise AiSystemError(
            f"Say how the version came from {parent.version} (the relation).", "relation"
        )
    if instance is None:
        return
    # Walking up from the parent must never reach the version itself.
    seen, step = set(), parent
    while step is not None and step.pk not in seen:
        if step.pk == instance.pk:
            raise AiSystemError(
                f"Version {parent.version} descends from {instance.version}: a parent cannot be "
                "its own descendant.",
                "parent",
            )
        seen.add(step.pk)
        step = step.parent


def _check_numbers(**numbers) -> None:
    for name, value in numbers.items():
        if value is None:
            continue
        if name == "quality_value":
            # A quality metric may be negative (a log-likelihood); it must be a number.
            if not math.isfinite(value):
                raise AiSystemError(f"{name} must be a finite number; got {value!r}.", name)
            continue
        if not math.isfinite(value) or value < 0:
            raise AiSystemError(f"{name} must be a finite number, 0 or more; got {value!r}.", name)
    if (numbers.get("planned_requests") or 0) > 2**63 - 1:
        raise AiSystemError("planned_requests is too large.", "planned_requests")


def _check_windows(*, system, role, windows, allow_other_teams) -> None:
    for window in windows:
        where = f"{role} {window.project.slug} from {window.start:%Y-%m-%d}"
        if window.end is None and role == Role.PRODUCED_BY:
            raise AiSystemError(f"{where}: a producing window needs an end.", role)
        if window.end is not None and window.end <= window.start:
            raise AiSystemError(f"{where}: a window must end after it starts.", role)
        if window.project.team_id != system.team_id and not allow_other_teams:
            raise AiSystemError(
                f"{where}: project {window.project.slug} is not team {system.team.slug}'s; "
                "only an admin may link another team's project.",
                role,
            )
    for index, first in enumerate(windows):
        for second in windows[index + 1 :]:
            if first.project.pk == second.project.pk and lm.windows_overlap(
                first.start, first.end, second.start, second.end
            ):
                raise AiSystemError(
                    f"Two {role} windows of project {first.project.slug} overlap (from "
                    f"{first.start:%Y-%m-%d} and from {second.start:%Y-%m-%d}): its figures "
                    "would count twice.",
                    role,
                )


def _check_serving_overlaps(*, system, instance, label, model_name, served_by) -> None:
    """Two versions served by one project at overlapping times must name different engine
    model_names (their shares of the project's figures come from the work records')."""
    for window in served_by:
        others = VersionProject.objects.filter(
            role=Role.SERVED_BY, project=window.project
        ).select_related("version__system")
        if instance is not None:
            others = others.exclude(version=instance)
        if window.end is not None:
            others = others.filter(start__lt=window.end)
        others = others.filter(Q(end__isnull=True) | Q(end__gt=window.start))
        for other in others.order_by("start", "pk"):
            other_name = other.version.model_name
            if model_name and other_name and model_name != other_name:
                continue
            why = (
                f"both name the model_name {model_name!r}"
                if model_name and model_name == other_name
                else "they need distinct model_names"
            )
            raise AiSystemError(
                f"Version {system.slug} {label} and version {other.version} are both served by "
                f"project {window.project.slug} at overlapping times ({_span(window)} and "
                f"{_span(other)}); {why} so that the project's figures split by their output "
                "tokens.",
                "served_by",
            )


def _span(window) -> str:
    end = f"{window.end:%Y-%m-%d}" if window.end else "open-ended"
    return f"{window.start:%Y-%m-%d} to {end}"
