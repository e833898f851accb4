"""AI systems for the tests: team NLP's "assistant" and the projects that make and serve it."""

from datetime import UTC, datetime

from assessments.ai_systems.services import ProjectWindow, ai_system_create, version_save
from assessments.models import Project, Team


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def team(name="NLP") -> Team:
    found, _ = Team.objects.get_or_create(name=name, defaults={"slug": name.lower()})
    return found


def project(slug, team_name="NLP", phase="inference", work_kind="requests") -> Project:
    found = Project.objects.filter(slug=slug).first()
    if found is not None:
        return found
    return Project.objects.create(
        slug=slug,
        name=slug.replace("-", " ").title(),
        team=team(team_name),
        phase=phase,
        work_kind=work_kind,
        work_unit=work_kind.replace("_", " ") if work_kind != "other" else "samples",
    )


def system(slug="assistant", team_name="NLP"):
    return ai_system_create(slug=slug, name=slug.title(), team=team(team_name))


def window(project_slug, start, end=None, **kwargs) -> ProjectWindow:
    return ProjectWindow(
        project=project(project_slug, **kwargs), start=day(start), end=day(end) if end else None
    )


def version(owner, label, *, produced_by=(), served_by=(), **fields):
    return version_save(
        system=owner,
        version=label,
        produced_by=list(produced_by),
        served_by=list(served_by),
        **fields,
    )
