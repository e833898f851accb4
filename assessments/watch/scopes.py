"""Scopes of budgets and alert rules, written `organisation`, `team:SLUG` or `project:SLUG`."""

from assessments.footprint.scope_figures import Scope
from assessments.models import Project, Team
from assessments.models.watch import ScopeError, scope_parts

__all__ = ["Scope", "ScopeError", "scope_parts", "scope_resolve"]


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
