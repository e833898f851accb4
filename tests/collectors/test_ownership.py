"""Hosts belong to the collector that first registered them; tags charge only the collector's
team's projects; admins hand hosts over."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from prometheus_client.parser import text_string_to_metric_families

from assessments.footprint.rollup import rollup_dirty_hours
from assessments.models import HourlyProjectFact, Project, Team
from collectors.models import Collector, Device, Host, IngestBatch, IngestRejection, RawSample
from collectors.services import batch_ingest, collector_revoke, tag_allowed
from tests.collectors.factories import T0, device, make_collector, payload, post_batch, sample


def scrape(client) -> dict[tuple, float]:
    values = {}
    for family in text_string_to_metric_families(client.get("/metrics").content.decode()):
        for s in family.samples:
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return values


# --- Hosts ------------------------------------------------------------------------------------


def test_hostname_of_another_active_collector_is_refused_with_403_naming_it(db, client):
    owner, owner_token = make_collector("cluster-a")
    assert post_batch(client, owner_token, payload()).status_code == 202
    _, thief_token = make_collector("cluster-b")
    # New devices under the owner's hostname: they would join the owner's host.
    body = payload([sample("GPU-NEW")], devices=[device("GPU-NEW")])
    response = post_batch(client, thief_token, body)
    assert response.status_code == 403
    assert response.json() == {
        "error": "Host 'gpu-node-01' is registered to another collector; an admin can hand it"
        " over (manage.py handoverhost).",
        "details": [{"field": "host.hostname", "message": "owned by another collector"}],
    }
    assert not Device.objects.filter(uuid="GPU-NEW").exists()
    assert RawSample.objects.count() == IngestBatch.objects.count() == 1
    assert Host.objects.get().collector == owner
    assert IngestRejection.objects.get().reason == "host_owned_elsewhere"


def test_host_of_a_revoked_collector_is_claimed_by_the_next_one(db, client):
    old, token = make_collector("cluster-a")
    post_batch(client, token, payload())
    collector_revoke(collector=old)
    new, new_token = make_collector("cluster-a-2")
    body = payload([sample("GPU-0002", ts=T0 + timedelta(seconds=5))], devices=[device("GPU-0002")])
    assert post_batch(client, new_token, body).status_code == 202
    assert Host.objects.get().collector == new
    assert Device.objects.get(uuid="GPU-0002").collector == new


def test_handoverhost_gives_the_host_and_its_devices_to_another_collector(db, client):
    owner, owner_token = make_collector("cluster-a")
    post_batch(client, owner_token, payload())
    heir, heir_token = make_collector("cluster-b")
    out = StringIO()
    call_command("handoverhost", "gpu-node-01", "cluster-b", stdout=out)
    assert out.getvalue() == "Host 'gpu-node-01' handed over from cluster-a to cluster-b.\n"
    assert Host.objects.get().collector == heir
    assert Device.objects.get().collector == heir
    later = payload([sample(ts=T0 + timedelta(seconds=9))])
    assert post_batch(client, heir_token, later).status_code == 202
    assert post_batch(client, owner_token, payload()).status_code == 403


def test_handoverhost_unowned_lets_the_next_collector_claim_it(db, client):
    _, owner_token = make_collector("cluster-a")
    post_batch(client, owner_token, payload())
    call_command("handoverhost", "gpu-node-01", "--unowned", stdout=StringIO())
    assert Host.objects.get().collector is None
    heir, heir_token = make_collector("cluster-b")
    assert post_batch(client, heir_token, payload()).status_code == 202
    assert Host.objects.get().collector == heir


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere", "cluster-a"], "No host named 'nowhere'."),
        (["gpu-node-01", "nobody"], "No collector named 'nobody'."),
        (["gpu-node-01", "old"], "Collector 'old' is revoked."),
        (["gpu-node-01"], "Name the new collector, or give --unowned"),
        (["gpu-node-01", "cluster-a", "--unowned"], "Name the new collector, or give --unowned"),
    ],
)
def test_handoverhost_names_what_is_wrong(db, client, args, message):
    owner, token = make_collector("cluster-a")
    post_batch(client, token, payload())
    collector_revoke(collector=make_collector("old")[0])
    with pytest.raises(CommandError, match=message):
        call_command("handoverhost", *args, stdout=StringIO())
    assert Host.objects.get().collector == owner


def test_admin_changing_a_hosts_collector_hands_its_devices_over(db, client):
    _, token = make_collector("cluster-a")
    post_batch(client, token, payload())
    heir, _ = make_collector("cluster-b")
    client.force_login(User.objects.create_superuser("root", "r@example.com", "pw-tests-only"))
    host = Host.objects.get()
    response = client.post(
        f"/admin/collectors/host/{host.pk}/change/",
        {
            "hostname": host.hostname,
            "collector": heir.pk,
            "embodied_source": "",
            "devices-TOTAL_FORMS": "1",
            "devices-INITIAL_FORMS": "1",
            "devices-MIN_NUM_FORMS": "0",
            "devices-MAX_NUM_FORMS": "1000",
            "devices-0-id": Device.objects.get().pk,
            "devices-0-host": host.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Host.objects.get().collector == heir
    assert Device.objects.get().collector == heir


# --- Tags -------------------------------------------------------------------------------------


@pytest.fixture
def teams(db):
    nlp = Team.objects.create(name="NLP", slug="nlp")
    vision = Team.objects.create(name="Vision", slug="vision")
    Project.objects.create(name="Chat", slug="chat", team=nlp)
    Project.objects.create(name="Detect", slug="detect", team=vision)
    return nlp, vision


def tagged(*projects, ts_offset=1):
    return sample(
        ts=T0 + timedelta(seconds=ts_offset),
        tags=[{"project": p, "phase": "inference", "share": 0.5} for p in projects],
    )


def test_tag_of_another_teams_project_is_stored_without_it_and_counted(teams, client):
    nlp, _ = teams
    collector, token = make_collector("nlp-nodes", team=nlp)
    before = scrape(client)
    body = payload(
        [
            tagged("chat", "detect", ts_offset=1),
            tagged("detect", ts_offset=2),
            tagged("nowhere", ts_offset=3),
            tagged("chat", ts_offset=4),
        ]
    )
    assert post_batch(client, token, body).status_code == 202
    stored = {s.ts: s.tags for s in RawSample.objects.all()}
    chat = [{"project": "chat", "phase": "inference", "share": 0.5}]
    assert stored == {
        T0 + timedelta(seconds=1): chat,
        T0 + timedelta(seconds=2): None,
        T0 + timedelta(seconds=3): None,
        T0 + timedelta(seconds=4): chat,
    }
    collector.refresh_from_db()
    assert collector.foreign_tags == 3
    assert collector.foreign_tag_last_at is not None
    after = scrape(client)
    key = ("greenai_ingest_foreign_tags_total", (("collector", "nlp-nodes"),))
    assert after[key] - before.get(key, 0) == 3


def test_organisation_wide_collector_may_tag_any_project(teams, client):
    collector, token = make_collector("shared")
    assert post_batch(client, token, payload([tagged("chat", "detect")])).status_code == 202
    assert len(RawSample.objects.get().tags) == 2
    collector.refresh_from_db()
    assert collector.foreign_tags == 0


def test_resent_batch_with_foreign_tags_is_counted_once(teams):
    nlp, _ = teams
    collector, _ = make_collector("nlp-nodes", team=nlp)
    body = payload([tagged("detect")])
    assert batch_ingest(collector=collector, payload=body).foreign_tags == 1
    assert batch_ingest(collector=collector, payload=body).duplicate
    collector.refresh_from_db()
    assert collector.foreign_tags == 1


def test_tag_rule():
    assert tag_allowed(None, 7)
    assert tag_allowed(None, None)
    assert tag_allowed(3, 3)
    assert not tag_allowed(3, 7)
    assert not tag_allowed(3, None)  # unknown project


def test_collector_table_keeps_the_count(teams):
    nlp, _ = teams
    collector, _ = make_collector("nlp-nodes", team=nlp)
    batch_ingest(collector=collector, payload=payload([tagged("detect")]))
    batch_ingest(collector=collector, payload=payload([tagged("detect", ts_offset=5)]))
    assert Collector.objects.get(pk=collector.pk).foreign_tags == 2


def test_rollup_charges_a_foreign_tag_to_no_project_of_the_other_team(teams):
    nlp, _ = teams
    collector, _ = make_collector("nlp-nodes", team=nlp)
    batch_ingest(collector=collector, payload=payload([tagged("chat", "detect")]))
    rollup_dirty_hours()
    parts = {
        (fact.project.slug if fact.project else None, fact.attribution): fact.energy_it_kwh
        for fact in HourlyProjectFact.objects.select_related("project")
    }
    assert set(parts) == {("chat", "tag"), (None, "unallocated")}
    assert parts[("chat", "tag")] == pytest.approx(parts[(None, "unallocated")])
