"""Who may do what: viewers see everything, engineers edit their own teams' things, admins all.

Every write view checks here on the server; templates use the same functions to hide buttons.
"""

from functools import wraps

from django.core.exceptions import PermissionDenied

from assessments.models import Team, UserProfile
from assessments.organisation.services import hosts_of_teams
from collectors.models import Host

Role = UserProfile.Role


def role_of(user) -> str | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    profile = getattr(user, "profile", None)
    return profile.role if profile else Role.VIEWER


def is_admin(user) -> bool:
    return role_of(user) == Role.ADMIN


def editable_teams(user):
    """Teams whose projects, allocations, collectors and optimisations the user may change."""
    role = role_of(user)
    if role == Role.ADMIN:
        return Team.objects.all()
    if role == Role.ENGINEER:
        return user.profile.teams.all()
    return Team.objects.none()


def allocatable_hosts(user):
    """Hosts the user may allocate: those of their teams (a host is the team of the collector
    that registered it); admins: every host."""
    if is_admin(user):
        return Host.objects.all()
    return hosts_of_teams(editable_teams(user))


def can_edit_team(user, team: Team | None) -> bool:
    if is_admin(user):
        return True
    if team is None or role_of(user) != Role.ENGINEER:
        return False
    return user.profile.teams.filter(pk=team.pk).exists()


def check_can_edit_team(user, team: Team | None) -> None:
    if not can_edit_team(user, team):
        raise PermissionDenied("You may only change the things of your own teams.")


def admin_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_admin(request.user):
            raise PermissionDenied("Only admins may do this.")
        return view(request, *args, **kwargs)

    return wrapper


def engineer_required(view):
    """Engineers and admins; the view still checks the team of what it changes."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if role_of(request.user) not in (Role.ENGINEER, Role.ADMIN):
            raise PermissionDenied("Only engineers and admins may do this.")
        return view(request, *args, **kwargs)

    return wrapper


def can_edit_budget(user, *, team: Team | None, project=None) -> bool:
    """Admins set the organisation's and teams' budgets; engineers their own teams' projects'."""
    if project is not None:
        return can_edit_team(user, project.team)
    return is_admin(user)
