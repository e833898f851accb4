"""The engineers' pages keep to their teams' hosts; admins set the back-fill permission."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from assessments.models import Allocation, UserProfile
from collectors.models import Collector, Host
from tests.assessments.dashboards import page_factories as pf

Role = UserProfile.Role


@pytest.fixture
def world(db):
    return pf.make_world()


def login(client, username, role, teams=(), **kwargs):
    client.force_login(pf.make_user(username, role, teams, **kwargs))
    return client


def allocate(client, project, host, devices="all"):
    return client.post(
        reverse("allocation_create", args=[project.slug]),
        {"host": host.pk, "devices": devices, "start": "2026-10-01", "end": ""},
    )


def test_engineer_cannot_allocate_another_teams_host(client, world):
    login(client, "vis", Role.ENGINEER, [world.vision])
    response = allocate(client, world.other_project, world.host)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Allocation.objects.exists()
    page = client.get(reverse("allocation_create", args=[world.other_project.slug]))
    assert "gpu-node-01" not in page.content.decode()


def test_engineer_cannot_allocate_an_unowned_host_but_an_admin_can(client, world):
    spare = Host.objects.create(hostname="spare-01")
    login(client, "nlp-eng", Role.ENGINEER, [world.nlp])
    assert allocate(client, world.project, spare).status_code == 200
    assert not Allocation.objects.exists()
    login(client, "boss", Role.ADMIN, superuser=True)
    assert allocate(client, world.project, spare).status_code == 302
    assert Allocation.objects.get().host == spare


def test_overlap_across_teams_is_refused_for_engineers_and_allowed_for_admins(client, world):
    Allocation.objects.create(
        project=world.other_project,
        host=world.host,
        device_indexes=[1],
        start=datetime(2026, 9, 1, tzinfo=UTC),
    )
    login(client, "nlp-eng", Role.ENGINEER, [world.nlp])
    response = allocate(client, world.project, world.host, devices="0, 1")
    assert response.status_code == 200
    assert "allocated to another team&#x27;s project over the same time: image-cls (vision)" in (
        response.content.decode()
    )
    assert Allocation.objects.count() == 1
    assert allocate(client, world.project, world.host, devices="0").status_code == 302
    login(client, "boss", Role.ADMIN, superuser=True)
    assert allocate(client, world.project, world.host, devices="1").status_code == 302
    assert Allocation.objects.count() == 3


def test_project_page_offers_the_engineer_only_their_teams_hosts(client, world):
    Host.objects.create(
        hostname="vision-only-01",
        collector=Collector.objects.create(
            name="vision-agents", team=world.vision, token_prefix="v1", token_digest="x"
        ),
    )
    login(client, "nlp-eng", Role.ENGINEER, [world.nlp])
    page = client.get(reverse("project_detail", args=[world.project.slug]), pf.FILTERS)
    html = page.content.decode()
    assert "gpu-node-01" in html
    assert "vision-only-01" not in html


def test_admin_grants_and_withdraws_the_backfill_permission(client, world):
    collector = Collector.objects.get(name="nlp-agents")
    login(client, "boss", Role.ADMIN, superuser=True)
    url = reverse("collector_backfill", args=[collector.pk])
    assert client.post(url, {"allow_backfill": "1"}).status_code == 302
    collector.refresh_from_db()
    assert collector.allow_backfill
    page = client.get(reverse("collector_list"))
    assert 'name="allow_backfill" value="1" checked' in page.content.decode()
    client.post(url, {})
    collector.refresh_from_db()
    assert not collector.allow_backfill


def test_engineer_may_not_grant_backfill(client, world):
    collector = Collector.objects.get(name="nlp-agents")
    login(client, "nlp-eng", Role.ENGINEER, [world.nlp])
    response = client.post(
        reverse("collector_backfill", args=[collector.pk]), {"allow_backfill": "1"}
    )
    assert response.status_code == 403
    collector.refresh_from_db()
    assert not collector.allow_backfill
    # Nor through the creation form: the field is an admin's only.
    client.post(
        reverse("collector_create"),
        {"name": "sneaky", "team": world.nlp.pk, "allow_backfill": "on"},
    )
    assert not Collector.objects.get(name="sneaky").allow_backfill


def test_admin_creates_a_collector_with_backfill(client, world):
    login(client, "boss", Role.ADMIN, superuser=True)
    client.post(reverse("collector_create"), {"name": "replay", "allow_backfill": "on"})
    assert Collector.objects.get(name="replay").allow_backfill


def test_collectors_page_shows_tags_of_other_teams_projects(client, world):
    Collector.objects.filter(name="nlp-agents").update(
        foreign_tags=7, foreign_tag_last_at=datetime(2026, 11, 3, 4, 5, 6, tzinfo=UTC)
    )
    login(client, "viewer", Role.VIEWER)
    html = client.get(reverse("collector_list")).content.decode()
    assert "Tags of other teams&#x27; projects" in html
    assert "2026-11-03 04:05:06" in html
