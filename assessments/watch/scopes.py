"""Scopes of budgets and alert rules, written `organisation`, `team:SLUG` or `project:SLUG`."""

from dataclasses import dataclass

from assessments.models import Project, Team
from assessments.models.watch import ScopeError, scope_parts

__all__ = ["Scope", "ScopeError", "scope_parts", "scope_resolve"]


@dataclass(frozen=True)
class Scope:
    team: Team | None = None
    project: Project | None = None

    @property
    def text(self) -> str:
        if self.project is not None:
            return f"project:{self.project.slug}"
        if self.team is not None:
            return f"team:{self.team.slug}"
        return "organisation"

    @property
    def label(self) -> str:
        if self.project is not None:
            return f"Project {self.project.name}"
        if self.team is not None:
            return f"Team {self.team.name}"
        return "Organisation"


def scope_resolve(text: str) -> Scope:
    """The stored team or project a scope names; ScopeError naming what is missing."""
    kind, slug = scope_parts(text)
    if kind == "team":
        team = Team.objects.filter(slug=slug).first()
        if team is None:
            raise ScopeError(f"no team with slug {slug!r}")
        return Scope(team=team)
    if kind == "project":
        project = Project.objects.select_related("team").filter(slug=slug).first()
        if project is None:
            raise ScopeError(f"no project with slug {slug!r}")
        return Scope(project=project)
    return Scope()
