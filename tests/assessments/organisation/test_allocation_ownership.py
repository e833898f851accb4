"""Allocations: a team allocates only its own hosts, and never the devices another team holds
over the same time (unless an admin does)."""

from datetime import UTC, datetime

import pytest

from assessments.models import Allocation, Phase, Project, Team
from assessments.organisation import services
from assessments.organisation.forms import AllocationForm
from collectors.models import Collector, Device, Host

OCT = datetime(2026, 10, 1, tzinfo=UTC)
NOV = datetime(2026, 11, 1, tzinfo=UTC)
DEC = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def teams(db):
    nlp = Team.objects.create(name="NLP", slug="nlp")
    vision = Team.objects.create(name="Vision", slug="vision")
    chat = Project.objects.create(name="Chat", slug="chat", team=nlp, phase=Phase.INFERENCE)
    summarise = Project.objects.create(
        name="Summarise", slug="summarise", team=nlp, phase=Phase.INFERENCE
    )
    detect = Project.objects.create(
        name="Detect", slug="detect", team=vision, phase=Phase.INFERENCE
    )
    nlp_collector = Collector.objects.create(
        name="nlp-nodes", team=nlp, token_prefix="a", token_digest="x"
    )
    shared = Collector.objects.create(name="shared", token_prefix="b", token_digest="y")
    host = Host.objects.create(hostname="nlp-01", collector=nlp_collector)
    for index in (0, 1):
        Device.objects.create(uuid=f"GPU-{index}", host=host, index=index)
    Host.objects.create(hostname="shared-01", collector=shared)
    Host.objects.create(hostname="unowned-01")
    return {"nlp": nlp, "vision": vision, "chat": chat, "summarise": summarise, "detect": detect}


def test_hosts_of_teams_are_those_of_their_collectors(teams):
    assert [h.hostname for h in services.hosts_of_teams([teams["nlp"]])] == ["nlp-01"]
    assert not services.hosts_of_teams([teams["vision"]]).exists()


@pytest.mark.parametrize(
    ("a", "b", "shared"),
    [
        (None, None, True),
        (None, [1], True),
        ([0], None, True),
        ([0, 1], [1], True),
        ([0], [1], False),
    ],
)
def test_devices_overlap(a, b, shared):
    assert services.devices_overlap(a, b) is shared


def allocate(project, devices, start, end, **kwargs):
    return services.allocation_create(
        project=project,
        host=Host.objects.get(hostname="nlp-01"),
        device_indexes=devices,
        start=start,
        end=end,
        **kwargs,
    )


def test_overlap_with_another_teams_allocation_is_refused(teams):
    allocate(teams["chat"], None, OCT, NOV)
    with pytest.raises(services.CrossTeamOverlap) as caught:
        allocate(teams["detect"], [1], datetime(2026, 10, 20, tzinfo=UTC), None)
    assert str(caught.value) == (
        "These devices are allocated to another team's project over the same time: chat (nlp)"
        " from 2026-10-01 to 2026-11-01. Only an admin may make overlapping allocations across"
        " teams."
    )
    assert Allocation.objects.count() == 1


def test_same_team_may_overlap_and_other_teams_may_follow_or_use_other_devices(teams):
    allocate(teams["chat"], [0], OCT, NOV)
    allocate(teams["summarise"], None, OCT, None)  # same team: shared equally
    Allocation.objects.filter(project=teams["summarise"]).delete()
    allocate(teams["detect"], [1], OCT, None)  # another device
    allocate(teams["detect"], [0], NOV, DEC)  # after the end (exclusive)
    assert Allocation.objects.count() == 3


def test_admin_may_make_a_cross_team_overlap(teams):
    allocate(teams["chat"], None, OCT, None)
    allocate(teams["detect"], [0], NOV, DEC, allow_cross_team=True)
    assert Allocation.objects.count() == 2


def form(project, host, *, hosts, allow_cross_team=False, devices="all"):
    return AllocationForm(
        {"host": host.pk, "devices": devices, "start": "2026-10-01", "end": ""},
        hosts=hosts,
        project=project,
        allow_cross_team=allow_cross_team,
    )


def test_allocation_form_offers_only_the_teams_hosts(teams):
    hosts = services.hosts_of_teams([teams["nlp"]])
    shared = Host.objects.get(hostname="shared-01")
    refused = form(teams["chat"], shared, hosts=hosts)
    assert not refused.is_valid()
    assert "host" in refused.errors
    assert form(teams["chat"], Host.objects.get(hostname="nlp-01"), hosts=hosts).is_valid()


def test_allocation_form_refuses_a_cross_team_overlap_unless_admin(teams):
    allocate(teams["chat"], None, OCT, None)
    host = Host.objects.get(hostname="nlp-01")
    refused = form(teams["detect"], host, hosts=Host.objects.all(), devices="1")
    assert not refused.is_valid()
    assert "another team's project" in refused.non_field_errors()[0]
    admin = form(
        teams["detect"], host, hosts=Host.objects.all(), devices="1", allow_cross_team=True
    )
    assert admin.is_valid()
