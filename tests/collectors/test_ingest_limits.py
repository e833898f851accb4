"""Bad input at the ingest API: a 4xx naming the field, nothing stored; every answer counted."""

import gzip
import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from collectors import tasks
from collectors.models import Collector, DirtyHour, Host, IngestBatch, IngestRejection, RawSample
from collectors.services import ingest_rejections_delete_old
from tests.collectors.factories import device, make_collector, payload, post_batch, sample


def scrape(client) -> dict[tuple, float]:
    values = {}
    for family in text_string_to_metric_families(client.get("/metrics").content.decode()):
        for s in family.samples:
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return values


def grew(before, after, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0) - before.get(key, 0)


def assert_nothing_stored():
    assert RawSample.objects.count() == 0
    assert IngestBatch.objects.count() == 0
    assert DirtyHour.objects.count() == 0
    assert Host.objects.count() == 0


@pytest.fixture
def live(db):
    """A collector without the back-fill permission, and a time inside its window."""
    collector, token = make_collector("live", allow_backfill=False)
    return collector, token, timezone.now().replace(microsecond=0) - timedelta(minutes=5)


# --- Timestamps -------------------------------------------------------------------------------


def test_sample_older_than_the_retention_is_a_400_naming_it(live, client, settings):
    _, token, now = live
    settings.RAW_SAMPLE_RETENTION_DAYS = 35
    body = payload([sample(ts=now), sample(ts=now - timedelta(days=36))])
    response = post_batch(client, token, body)
    assert response.status_code == 400
    [detail] = response.json()["details"]
    assert detail["field"] == "samples[1].ts"
    assert "back-fill permission" in detail["message"]
    assert_nothing_stored()


def test_collector_with_backfill_permission_may_send_old_samples_but_not_before_2000(db, client):
    out = StringIO()
    call_command("createcollector", "replay", "--allow-backfill", stdout=out, stderr=StringIO())
    token = out.getvalue().strip()
    assert Collector.objects.get(name="replay").allow_backfill
    old = datetime(2001, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert post_batch(client, token, payload([sample(ts=old)])).status_code == 202
    assert RawSample.objects.get().ts == old
    response = post_batch(client, token, payload([sample(ts=datetime(1999, 1, 1, tzinfo=UTC))]))
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "samples[0].ts"
    assert RawSample.objects.count() == 1


def test_createcollector_without_the_flag_gives_no_backfill_permission(db):
    call_command("createcollector", "plain", stdout=StringIO(), stderr=StringIO())
    assert not Collector.objects.get(name="plain").allow_backfill


@pytest.mark.parametrize(
    "ts",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", 1e19, -62135596801, 0],
)
def test_timestamp_overflow_is_a_400_on_every_engine(db, client, ts):
    _, token = make_collector("replay")  # with the back-fill permission: only 2000 bounds it
    body = payload([sample(duration_s=3600)])
    body["samples"][0]["ts"] = ts
    response = post_batch(client, token, body)
    assert response.status_code == 400
    assert [d["field"] for d in response.json()["details"]] == ["samples[0].ts"]
    assert_nothing_stored()


# --- Control characters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ("hostname", "host.hostname"),
        ("agent_version", "host.agent_version"),
        ("device_name", "devices[0].name"),
        ("device_uuid", "devices[0].uuid"),
        ("tag_project", "samples[0].tags[0].project"),
        ("tag_phase", "samples[0].tags[0].phase"),
    ],
)
@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f", "\x9b"])
def test_control_character_in_any_string_is_a_400_naming_the_field(
    live, client, where, field, character
):
    _, token, now = live
    uuid_ = f"GPU{character}1" if where == "device_uuid" else "GPU-0001"
    tag = {"project": "p", "phase": "inference", "share": 1.0}
    if where == "tag_project":
        tag["project"] = f"p{character}"
    if where == "tag_phase":
        tag["phase"] = f"inference{character}"
    name = f"H100{character}" if where == "device_name" else "H100"
    body = payload(
        [sample(uuid_, ts=now, tags=[tag])],
        devices=[device(uuid_, name=name)],
        hostname=f"gpu{character}01" if where == "hostname" else "gpu-01",
    )
    if where == "agent_version":
        body["host"]["agent_version"] = f"1.0{character}"
    response = post_batch(client, token, body)
    assert response.status_code == 400
    fields = {d["field"] for d in response.json()["details"]}
    assert field in fields
    assert_nothing_stored()
    rejection = IngestRejection.objects.get()
    assert "control character" in rejection.message


# --- Size -------------------------------------------------------------------------------------


def test_batch_over_20000_samples_is_a_413_and_nothing_is_stored(live, client):
    _, token, now = live
    samples = [sample(ts=now - timedelta(seconds=n)) for n in range(20_001)]
    response = post_batch(client, token, payload(samples), compress=True)
    assert response.status_code == 413
    assert response.json()["error"] == (
        "The batch has 20001 samples; the maximum is 20000. Send them in several batches."
    )
    assert_nothing_stored()
    assert IngestRejection.objects.get().reason == "too_many_samples"


def test_batch_of_20000_worst_case_samples_fits_the_decompressed_limit(settings):
    """The documented figure (docs/ingest.md): a full batch of the longest samples an agent
    sends (MIG uuid, every field, two tags) stays under INGEST_MAX_DECOMPRESSED_BYTES."""
    uuid_ = "MIG-" + "f" * 8 + "-" + "f" * 4 + "-" + "f" * 4 + "-" + "f" * 4 + "-" + "f" * 12
    one = {
        "device": uuid_,
        "ts": "2026-11-28T06:00:01.123456+00:00",
        "duration_s": 1.0000123456789,
        "energy_j": 312.51234567890123,
        "power_w": 312.51234567890123,
        "util_pct": 87.123456789012345,
        "mem_used_mib": 40960.123456789012,
        "tags": [
            {"project": "p" * 40, "phase": "fine_tuning", "share": 0.33333333333333331},
            {"project": "q" * 40, "phase": "fine_tuning", "share": 0.66666666666666663},
        ],
    }
    assert len(json.dumps(one)) == 484
    body = json.dumps(payload([one] * 20_000, devices=[device(uuid_)]), indent=2).encode()
    assert len(body) < settings.INGEST_MAX_DECOMPRESSED_BYTES <= 16 * 1024 * 1024


def test_gzip_expanding_past_the_limit_is_a_413(live, client, settings):
    _, token, _ = live
    settings.INGEST_MAX_DECOMPRESSED_BYTES = 4096
    body = gzip.compress(b'{"batch_id": "' + b" " * 5000 + b'"}')
    response = post_batch(client, token, body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413


# --- 500s -------------------------------------------------------------------------------------


def test_unexpected_error_is_a_json_500_without_internals_and_is_counted(live, client, monkeypatch):
    _, token, now = live

    def broken(**kwargs):
        raise RuntimeError("secret internals /srv/greenai/settings.py")

    monkeypatch.setattr("collectors.api.batch_ingest", broken)
    before = scrape(client)
    response = post_batch(client, token, payload([sample(ts=now)]))
    after = scrape(client)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "Internal server error; nothing was stored. Retry later.",
        "details": [],
    }
    assert "secret" not in response.content.decode()
    assert grew(before, after, "greenai_ingest_requests_total", status="500") == 1
    assert grew(before, after, "greenai_ingest_latency_seconds_count") == 1


def test_error_while_refusing_is_a_json_500_too(live, client, monkeypatch):
    _, token, _ = live

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("collectors.api.ingest_rejection_record", broken)
    before = scrape(client)
    response = post_batch(client, token, payload([sample(power_w=-1)]))
    assert response.status_code == 500
    assert response.json()["details"] == []
    assert grew(before, scrape(client), "greenai_ingest_requests_total", status="500") == 1


def test_wrong_method_is_a_405_with_allow_and_is_counted(db, client):
    before = scrape(client)
    response = client.get("/api/v1/ingest")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert grew(before, scrape(client), "greenai_ingest_requests_total", status="405") == 1


# --- Rejection records ------------------------------------------------------------------------


def test_repeated_identical_rejections_are_recorded_once_a_minute_and_counted(live, client):
    collector, token, now = live
    before = scrape(client)
    for _ in range(3):
        assert post_batch(client, token, payload([sample(power_w=-1)])).status_code == 400
    assert (
        post_batch(client, token, payload([sample(ts=now + timedelta(hours=1))])).status_code == 400
    )
    after = scrape(client)
    # Same collector, status and reason: one record; the repeats are counted.
    assert IngestRejection.objects.filter(collector=collector).count() == 1
    assert grew(before, after, "greenai_ingest_rejections_total", reason="invalid") == 4
    assert (
        grew(before, after, "greenai_ingest_rejections_not_recorded_total", reason="invalid") == 3
    )
    other, other_token = make_collector("other", allow_backfill=False)
    post_batch(client, other_token, payload([sample(power_w=-1)]))
    assert IngestRejection.objects.filter(collector=other).count() == 1


def test_unknown_tokens_are_recorded_once_a_minute_per_address(db, client):
    for _ in range(3):
        post_batch(client, "gac_00000000_nope", payload(), REMOTE_ADDR="10.0.0.1")
    post_batch(client, "gac_00000000_nope", payload(), REMOTE_ADDR="10.0.0.2")
    assert IngestRejection.objects.count() == 2


def test_rejection_records_past_their_retention_are_deleted(db, settings):
    settings.INGEST_REJECTION_RETENTION_DAYS = 90
    now = timezone.now()
    old = IngestRejection.objects.create(at=now - timedelta(days=91), status=400, reason="x")
    kept = IngestRejection.objects.create(at=now - timedelta(days=89), status=400, reason="x")
    assert ingest_rejections_delete_old(now=now) == 1
    assert list(IngestRejection.objects.all()) == [kept]
    assert not IngestRejection.objects.filter(pk=old.pk).exists()


def test_daily_retention_task_also_prunes_rejection_records(db):
    IngestRejection.objects.create(at=timezone.now() - timedelta(days=400), status=400, reason="x")
    result = tasks.delete_old_raw_samples.apply().get()
    assert result["rejections_deleted"] == 1
    assert not IngestRejection.objects.exists()
