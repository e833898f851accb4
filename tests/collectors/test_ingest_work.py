"""Measured work in the ingest batch's `work` list: validation (4xx naming the field, nothing
of the batch stored), attribution by tags, rules and the team check, idempotency."""

from datetime import timedelta

import pytest
from django.utils import timezone

from assessments.models import AttributionRule, Project, Team, WorkRecord
from collectors.models import IngestBatch, RawSample
from tests.collectors.factories import T0, make_collector, payload, post_batch, sample


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def work(ts=None, *, kind="requests", units=120.0, duration_s=10.0, pod="vllm-0", **extra):
    item = {
        "ts": iso(ts or T0 + timedelta(seconds=10)),
        "duration_s": duration_s,
        "kind": kind,
        "units": units,
        "model_name": "assistant",
        "job": [{"id": f"serving/{pod}", "namespace": "serving", "pod": pod, "share": 1.0}],
    }
    item.update(extra)
    return item


def batch(items, samples=None, **kwargs):
    body = payload(samples=samples if samples is not None else [], **kwargs)
    if samples == []:
        body["devices"] = []
    body["work"] = items
    return body


@pytest.fixture
def serving(db):
    nlp = Team.objects.create(name="NLP", slug="nlp")
    cv = Team.objects.create(name="CV", slug="cv")
    chat = Project.objects.create(slug="chat", name="Chat", team=nlp, work_kind="requests")
    Project.objects.create(slug="captions", name="Captions", team=cv)
    AttributionRule.objects.create(position=1, match={"namespace": "serving"}, project=chat)
    return chat


def test_work_is_attributed_by_the_rules_and_stored(client, serving):
    _, token = make_collector()
    answer = post_batch(client, token, batch([work(), work(kind="output_tokens", units=9000.0)]))
    assert answer.status_code == 202, answer.content
    assert answer.json() == {
        "accepted": 0,
        "duplicate": False,
        "work_accepted": 2,
        "work_unattributed_units": 0.0,
    }
    records = {r.kind: r for r in WorkRecord.objects.all()}
    assert set(records) == {"requests", "output_tokens"}
    requests = records["requests"]
    assert (requests.project, requests.source, requests.units) == (serving, "measured", 120.0)
    assert (requests.model_name, requests.job) == ("assistant", "pod:serving/vllm-0")
    assert requests.period_start == T0 and requests.period_end == T0 + timedelta(seconds=10)


def test_work_of_a_pod_no_rule_names_is_counted_unattributed(client, serving):
    _, token = make_collector()
    item = work(job=[{"id": "batch/x", "namespace": "batch", "pod": "x"}])
    answer = post_batch(client, token, batch([item]))
    assert answer.status_code == 202
    assert answer.json()["work_unattributed_units"] == 120.0
    assert not WorkRecord.objects.exists()


def test_a_tag_naming_a_project_wins_over_the_rules(client, serving):
    _, token = make_collector()
    item = work(tags=[{"project": "captions", "share": 0.25}, {"project": "chat", "share": 0.75}])
    assert post_batch(client, token, batch([item])).status_code == 202
    units = dict(WorkRecord.objects.values_list("project__slug", "units"))
    assert units == {"captions": 30.0, "chat": 90.0}


def test_a_team_collectors_work_naming_another_teams_project_is_dropped(client, serving):
    collector, token = make_collector(team=Team.objects.get(slug="nlp"))
    # Tagged for CV's project: the tag is dropped, as an energy sample's would be; the pod's
    # rule still applies (like the energy of the same pod).
    item = work(tags=[{"project": "captions", "share": 1.0}])
    other = work(tags=[{"project": "captions", "share": 1.0}], job=None, kind="output_tokens")
    answer = post_batch(client, token, batch([item, other]))
    assert answer.status_code == 202
    assert not WorkRecord.objects.filter(project__slug="captions").exists()
    assert list(WorkRecord.objects.values_list("project__slug", "kind")) == [("chat", "requests")]
    assert answer.json()["work_unattributed_units"] == 120.0
    collector.refresh_from_db()
    assert collector.foreign_tags == 2


def test_resent_batch_and_resent_intervals_are_stored_once(client, serving):
    _, token = make_collector()
    body = batch([work()])
    assert post_batch(client, token, body).status_code == 202
    assert post_batch(client, token, body).json() == {"accepted": 0, "duplicate": True}
    again = batch([work(), work(T0 + timedelta(seconds=20))])  # a new batch repeating one
    assert post_batch(client, token, again).json()["work_accepted"] == 1
    assert WorkRecord.objects.count() == 2
    assert sum(WorkRecord.objects.values_list("units", flat=True)) == 240.0


def test_an_interval_across_an_hour_is_split_pro_rata(client, serving):
    _, token = make_collector()
    item = work(T0 + timedelta(seconds=30), duration_s=40.0, units=400.0)
    assert post_batch(client, token, batch([item])).status_code == 202
    pieces = sorted(WorkRecord.objects.values_list("period_start", "period_end", "units"))
    assert pieces == [
        (T0 - timedelta(seconds=10), T0, 100.0),
        (T0, T0 + timedelta(seconds=30), 300.0),
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "tokens"}, "work[1].kind"),
        ({"units": -1.0}, "work[1].units"),
        ({"units": 1e13}, "work[1].units"),
        ({"units": "12"}, "work[1].units"),
        ({"duration_s": 0}, "work[1].duration_s"),
        ({"duration_s": 3601.0}, "work[1].duration_s"),
        ({"model_name": "assist\x00ant"}, "work[1].model_name"),
        ({"ts": "yesterday"}, "work[1].ts"),
        ({"unknown": 1}, "work[1].unknown"),
        ({"job": [{"namespace": "serving"}]}, "work[1].job[0]"),
        ({"tags": [{"project": "chat", "share": 1.5}]}, "work[1].tags[0].share"),
    ],
)
def test_bad_work_refuses_the_whole_batch_naming_the_field(client, serving, change, field):
    _, token = make_collector()
    bad = work(T0 + timedelta(seconds=20))
    bad.update(change)
    body = batch([work(), bad], samples=[sample()])
    answer = post_batch(client, token, body)
    assert answer.status_code == 400, answer.content
    assert field in [detail["field"] for detail in answer.json()["details"]]
    assert not WorkRecord.objects.exists()
    assert not RawSample.objects.exists()
    assert not IngestBatch.objects.exists()


def test_work_outside_the_retention_window_or_in_the_future_is_refused(client, serving):
    _, token = make_collector(name="no-backfill", allow_backfill=False)
    now = timezone.now()
    for moment, message in (
        (now - timedelta(days=40), "retention"),
        (now + timedelta(minutes=30), "ahead of the server clock"),
    ):
        answer = post_batch(client, token, batch([work(moment)]))
        assert answer.status_code == 400
        (detail,) = answer.json()["details"]
        assert detail["field"] == "work[0].ts" and message in detail["message"]
    assert post_batch(client, token, batch([work(now - timedelta(minutes=1))])).status_code == 202
    assert WorkRecord.objects.count() == 1


def test_samples_and_work_of_one_batch_are_stored_together(client, serving):
    _, token = make_collector()
    answer = post_batch(client, token, batch([work()], samples=[sample()]))
    assert answer.json() == {
        "accepted": 1,
        "duplicate": False,
        "work_accepted": 1,
        "work_unattributed_units": 0.0,
    }
    assert RawSample.objects.count() == 1 and WorkRecord.objects.count() == 1
