"""Every write checks role and team on the server: viewers and other teams' engineers get 403,
own-team engineers and admins succeed, anonymous users are sent to the login page."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from assessments.models import Allocation, ApiToken, Project, UserProfile, WorkRecord
from collectors.models import Collector
from tests.assessments.dashboards import page_factories as pf

Role = UserProfile.Role


@pytest.fixture
def world(db):
    return pf.make_world()


def _allocation(world):
    return Allocation.objects.create(
        project=world.project, host=world.host, start=datetime(2026, 10, 1, tzinfo=UTC)
    )


def _work(world):
    return WorkRecord.objects.create(
        project=world.project,
        period_start=datetime(2026, 10, 1, tzinfo=UTC),
        period_end=datetime(2026, 10, 2, tzinfo=UTC),
        units=5,
    )


def _nlp_collector(world):
    return Collector.objects.create(
        name="nlp-rack", team=world.nlp, token_prefix="1234abcd", token_digest="x"
    )


# Each write: (name, function(world) -> (url, data), function(world) -> did it happen?)
WRITES = {
    "register project": (
        lambda w: (
            reverse("project_create"),
            {"name": "New", "slug": "new", "team": w.nlp.pk, "phase": "training"},
        ),
        lambda w: Project.objects.filter(slug="new").exists(),
    ),
    "edit project": (
        lambda w: (
            reverse("project_edit", args=[w.project.slug]),
            {"name": "Renamed", "slug": w.project.slug, "team": w.nlp.pk, "phase": "training"},
        ),
        lambda w: Project.objects.filter(name="Renamed").exists(),
    ),
    "allocate devices": (
        lambda w: (
            reverse("allocation_create", args=[w.project.slug]),
            {"host": w.host.pk, "devices": "all", "start": "2026-10-01"},
        ),
        lambda w: Allocation.objects.exists(),
    ),
    "remove allocation": (
        lambda w: (reverse("allocation_delete", args=[w.project.slug, _allocation(w).pk]), {}),
        lambda w: not Allocation.objects.exists(),
    ),
    "record work": (
        lambda w: (
            reverse("work_create", args=[w.project.slug]),
            {"period_start": "2026-10-01", "period_end": "2026-10-02", "units": "10"},
        ),
        lambda w: WorkRecord.objects.filter(units=10).exists(),
    ),
    "remove work": (
        lambda w: (reverse("work_delete", args=[w.project.slug, _work(w).pk]), {}),
        lambda w: not WorkRecord.objects.filter(units=5).exists(),
    ),
    "create collector": (
        lambda w: (reverse("collector_create"), {"name": "rack-x", "team": w.nlp.pk}),
        lambda w: Collector.objects.filter(name="rack-x").exists(),
    ),
    "revoke collector": (
        lambda w: (reverse("collector_revoke", args=[_nlp_collector(w).pk]), {}),
        lambda w: Collector.objects.filter(revoked_at__isnull=False).exists(),
    ),
}


def _login(client, world, who: str):
    if who == "anonymous":
        return
    role, teams = {
        "viewer": (Role.VIEWER, []),
        "engineer of another team": (Role.ENGINEER, [world.vision]),
        "engineer of the team": (Role.ENGINEER, [world.nlp]),
        "admin": (Role.ADMIN, []),
    }[who]
    client.force_login(pf.make_user(who.replace(" ", "-"), role, teams))


@pytest.mark.parametrize("write", list(WRITES))
@pytest.mark.parametrize(
    "who, allowed",
    [
        ("viewer", False),
        ("engineer of another team", False),
        ("engineer of the team", True),
        ("admin", True),
    ],
)
def test_write_is_allowed_only_to_own_team_engineers_and_admins(client, world, write, who, allowed):
    request, happened = WRITES[write]
    _login(client, world, who)
    url, data = request(world)
    response = client.post(url, data)
    if allowed:
        assert response.status_code == 302, response.content.decode()[:500]
        assert happened(world)
    else:
        assert response.status_code == 403
        assert not happened(world)


@pytest.mark.parametrize("write", list(WRITES))
def test_anonymous_write_is_sent_to_login(client, world, write):
    request, happened = WRITES[write]
    url, data = request(world)
    response = client.post(url, data)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not happened(world)


def test_engineer_cannot_move_own_project_to_another_team(client, world):
    _login(client, world, "engineer of the team")
    response = client.post(
        reverse("project_edit", args=[world.project.slug]),
        {"name": "Moved", "slug": world.project.slug, "team": world.vision.pk, "phase": "training"},
    )
    assert response.status_code == 403
    world.project.refresh_from_db()
    assert world.project.team == world.nlp


def test_engineer_cannot_register_a_project_for_another_team(client, world):
    _login(client, world, "engineer of the team")
    response = client.post(
        reverse("project_create"),
        {"name": "Theirs", "slug": "theirs", "team": world.vision.pk, "phase": "training"},
    )
    assert response.status_code == 403
    assert not Project.objects.filter(slug="theirs").exists()


def test_only_admins_revoke_a_collector_without_team(client, world):
    collector = Collector.objects.create(name="shared", token_prefix="9999aaaa", token_digest="x")
    _login(client, world, "engineer of the team")
    assert client.post(reverse("collector_revoke", args=[collector.pk])).status_code == 403
    _login(client, world, "admin")
    assert client.post(reverse("collector_revoke", args=[collector.pk])).status_code == 302


def test_a_user_cannot_revoke_someone_elses_api_token(client, world):
    owner = pf.make_user("owner", Role.VIEWER)
    api_token = ApiToken.objects.create(
        user=owner, name="theirs", token_prefix="abab1212", token_digest="x"
    )
    _login(client, world, "viewer")
    assert client.post(reverse("token_revoke", args=[api_token.pk])).status_code == 403
    api_token.refresh_from_db()
    assert api_token.revoked_at is None


def test_forms_refuse_posts_without_csrf_token(world):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    _login(csrf_client, world, "admin")
    response = csrf_client.post(
        reverse("project_create"),
        {"name": "New", "slug": "new", "team": world.nlp.pk, "phase": "training"},
    )
    assert response.status_code == 403
    assert not Project.objects.filter(slug="new").exists()


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/projects/",
        "/projects/llm-finetune/",
        "/teams/",
        "/teams/nlp/",
        "/hardware/",
        "/collectors/",
        "/account/tokens/",
        "/charts/energy-trend.json",
        "/export/projects.csv",
    ],
)
def test_pages_need_a_login_and_viewers_see_them(client, world, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    _login(client, world, "viewer")
    assert client.get(url).status_code == 200


def test_viewer_sees_no_edit_forms(client, world):
    _login(client, world, "viewer")
    html = client.get(reverse("project_detail", args=[world.project.slug])).content.decode()
    assert "Allocate devices" not in html and "Record units of work" not in html
    assert "Register a collector" not in client.get(reverse("collector_list")).content.decode()
    assert client.get(reverse("project_create")).status_code == 403
