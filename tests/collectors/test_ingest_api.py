"""POST /api/v1/ingest through Django's test client: answers, storage, refusals."""

import gzip
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from collectors.models import (
    Collector,
    Device,
    DirtyHour,
    Host,
    IngestBatch,
    IngestRejection,
    RawSample,
)
from collectors.services import collector_revoke
from tests.collectors.factories import (
    T0,
    device,
    make_collector,
    payload,
    post_batch,
    sample,
    samples_every_second,
)


@pytest.fixture
def agent(db):
    collector, token = make_collector()
    return collector, token


def assert_nothing_stored():
    assert RawSample.objects.count() == 0
    assert IngestBatch.objects.count() == 0
    assert DirtyHour.objects.count() == 0
    assert Device.objects.count() == 0
    assert Host.objects.count() == 0


def test_valid_batch_is_stored_and_counted(agent, client):
    collector, token = agent
    body = payload(samples_every_second("GPU-0001", T0, 10))
    response = post_batch(client, token, body)
    assert response.status_code == 202
    assert response.json() == {"accepted": 10, "duplicate": False}
    stored = RawSample.objects.order_by("ts")
    assert stored.count() == 10
    first = stored.first()
    assert first.energy_j == 312.5 and first.duration_s == 1.0 and first.util_pct == 87
    assert first.ts == T0 + timedelta(seconds=1)
    batch = IngestBatch.objects.get()
    assert str(batch.batch_id) == body["batch_id"]
    assert (batch.sample_count, batch.stored_count, batch.collector) == (10, 10, collector)
    collector.refresh_from_db()
    assert collector.last_seen_at is not None


def test_gzip_body_is_accepted(agent, client):
    _, token = agent
    response = post_batch(client, token, payload(), compress=True)
    assert response.status_code == 202
    assert RawSample.objects.count() == 1


def test_tags_and_energy_from_power_are_stored(agent, client):
    _, token = agent
    tags = [{"project": "llm-finetune", "phase": "training", "share": 0.75}]
    body = payload([sample(energy_j=None, power_w=200.0, duration_s=5.0, tags=tags)])
    del body["samples"][0]["energy_j"]
    assert post_batch(client, token, body).status_code == 202
    stored = RawSample.objects.get()
    assert stored.energy_j == 1000.0
    assert stored.tags == tags


def test_epoch_second_timestamps_are_stored_as_utc(agent, client):
    _, token = agent
    body = payload([sample()])
    body["samples"][0]["ts"] = (T0 + timedelta(seconds=1)).timestamp()
    assert post_batch(client, token, body).status_code == 202
    assert RawSample.objects.get().ts == T0 + timedelta(seconds=1)


# --- Idempotency -----------------------------------------------------------------------------


def test_resent_batch_is_stored_once(agent, client):
    _, token = agent
    body = payload(samples_every_second("GPU-0001", T0, 5))
    assert post_batch(client, token, body).json() == {"accepted": 5, "duplicate": False}
    again = post_batch(client, token, body)
    assert again.status_code == 200
    assert again.json() == {"accepted": 0, "duplicate": True}
    assert RawSample.objects.count() == 5
    assert IngestBatch.objects.count() == 1


def test_resent_samples_in_a_new_batch_are_not_stored_twice(agent, client):
    _, token = agent
    post_batch(client, token, payload(samples_every_second("GPU-0001", T0, 5)))
    overlapping = payload(samples_every_second("GPU-0001", T0 + timedelta(seconds=3), 5))
    response = post_batch(client, token, overlapping)
    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "duplicate": False}
    assert RawSample.objects.count() == 8
    assert IngestBatch.objects.order_by("received_at").last().stored_count == 3


def test_repeated_sample_within_one_batch_is_stored_once(agent, client):
    _, token = agent
    body = payload([sample(energy_j=100.0), sample(energy_j=999.0)])
    assert post_batch(client, token, body).json()["accepted"] == 1
    assert RawSample.objects.get().energy_j == 100.0  # the first one wins


# --- Hosts and devices -----------------------------------------------------------------------


def test_host_and_devices_are_registered_on_first_sight(agent, client):
    collector, token = agent
    devices = [device("GPU-A", 0), device("GPU-B", 1, is_mig=True, parent_uuid="GPU-P")]
    body = payload([sample("GPU-A"), sample("GPU-B")], devices=devices, hostname="node-7")
    assert post_batch(client, token, body).status_code == 202
    host = Host.objects.get()
    assert (host.hostname, host.collector, host.agent_version) == ("node-7", collector, "0.1.0")
    assert host.first_seen_at is not None and host.last_seen_at is not None
    a, b = Device.objects.order_by("index")
    assert (a.uuid, a.host, a.collector, a.name, a.power_limit_w) == (
        "GPU-A",
        host,
        collector,
        "NVIDIA H100 80GB HBM3",
        700,
    )
    assert (b.uuid, b.index, b.is_mig, b.parent_uuid) == ("GPU-B", 1, True, "GPU-P")


def test_declared_device_attributes_are_updated(agent, client):
    _, token = agent
    post_batch(client, token, payload())
    first_seen = Device.objects.get().first_seen_at
    changed = device(power_limit_w=450, name="NVIDIA H100 PCIe")
    post_batch(client, token, payload([sample(ts=T0 + timedelta(seconds=9))], devices=[changed]))
    updated = Device.objects.get()
    assert (updated.power_limit_w, updated.name) == (450, "NVIDIA H100 PCIe")
    assert updated.first_seen_at == first_seen


def test_last_seen_moves_forward_for_collector_host_and_devices(agent, client):
    collector, token = agent
    post_batch(client, token, payload())
    Collector.objects.update(last_seen_at=T0)
    Host.objects.update(last_seen_at=T0)
    Device.objects.update(last_seen_at=T0)
    post_batch(client, token, payload([sample(ts=T0 + timedelta(seconds=9))], devices=[]))
    for model in (Collector, Host, Device):
        assert model.objects.get().last_seen_at > T0, model.__name__


def test_omitted_device_attributes_keep_their_known_values(agent, client):
    _, token = agent
    post_batch(client, token, payload())
    bare = {"uuid": "GPU-0001"}
    post_batch(client, token, payload([sample(ts=T0 + timedelta(seconds=9))], devices=[bare]))
    kept = Device.objects.get()
    assert (kept.power_limit_w, kept.name) == (700, "NVIDIA H100 80GB HBM3")


def test_samples_of_an_owned_device_need_no_declaration(agent, client):
    _, token = agent
    post_batch(client, token, payload())
    later = payload([sample(ts=T0 + timedelta(seconds=5))], devices=[])
    assert post_batch(client, token, later).json() == {"accepted": 1, "duplicate": False}


def test_sample_of_undeclared_unknown_device_is_refused(agent, client):
    _, token = agent
    body = payload([sample("GPU-0001"), sample("GPU-NOBODY")])
    response = post_batch(client, token, body)
    assert response.status_code == 400
    assert response.json()["details"] == [
        {
            "field": "samples[1].device",
            "message": "device 'GPU-NOBODY' is not declared in this batch's devices"
            " and not registered to this collector",
        }
    ]
    assert_nothing_stored()


def test_device_of_another_collector_is_refused_with_403(agent, client):
    _, token = agent
    post_batch(client, token, payload())
    _, thief_token = make_collector("cluster-b")
    stolen = payload([sample(ts=T0 + timedelta(seconds=7))], hostname="elsewhere")
    response = post_batch(client, thief_token, stolen)
    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "These devices are registered to another collector: GPU-0001."
    assert body["details"] == [
        {"field": "devices[0].uuid", "message": "owned by another collector"}
    ]
    assert RawSample.objects.count() == 1
    assert IngestBatch.objects.count() == 1
    assert not Host.objects.filter(hostname="elsewhere").exists()
    assert IngestRejection.objects.get().reason == "device_owned_elsewhere"


def test_undeclared_device_of_another_collector_is_refused_with_403(agent, client):
    _, token = agent
    post_batch(client, token, payload())
    _, thief_token = make_collector("cluster-b")
    response = post_batch(
        client, thief_token, payload([sample()], devices=[], hostname="elsewhere")
    )
    assert response.status_code == 403
    assert response.json()["details"][0]["field"] == "samples[0].device"


def test_new_collector_takes_over_the_devices_of_a_revoked_one(agent, client):
    old, token = agent
    post_batch(client, token, payload())
    collector_revoke(collector=old)
    new, new_token = make_collector("cluster-a-2")
    later = payload([sample(ts=T0 + timedelta(seconds=5))])
    assert post_batch(client, new_token, later).status_code == 202
    assert Device.objects.get().collector == new
    assert Host.objects.get().collector == new


def test_host_created_by_the_inventory_is_claimed_on_first_sight(agent, client):
    collector, token = agent
    Host.objects.create(hostname="gpu-node-01")
    assert post_batch(client, token, payload()).status_code == 202
    host = Host.objects.get()
    assert host.collector == collector
    assert host.first_seen_at is not None and host.agent_version == "0.1.0"


# --- Authentication and limits ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Send 'Authorization: Bearer <collector token>'."),
        ("Bearer gac_12345678_wrong", "Unknown collector token."),
        ("Bearer not-even-a-token", "Unknown collector token."),
        ("Basic dXNlcjpwYXNz", "Send 'Authorization: Bearer <collector token>'."),
    ],
)
def test_missing_or_unknown_token_is_refused_with_401(db, client, header, message):
    make_collector()
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = post_batch(client, None, payload(), **extra)
    assert response.status_code == 401
    assert response.json() == {"error": message, "details": []}
    assert_nothing_stored()
    rejection = IngestRejection.objects.get()
    assert (rejection.status, rejection.reason, rejection.collector) == (401, "unauthorized", None)
    assert rejection.message == f"{message} (from 127.0.0.1)"


def test_repeated_401s_are_recorded_once_a_minute(agent, client):
    _, token = agent
    for _ in range(3):
        assert post_batch(client, "gac_12345678_wrong", payload()).status_code == 401
    assert IngestRejection.objects.filter(status=401).count() == 1


def test_right_prefix_with_wrong_secret_is_refused(agent, client):
    collector, token = agent
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert post_batch(client, forged, payload()).status_code == 401
    assert_nothing_stored()


def test_revoked_token_is_refused_with_401(agent, client):
    collector, token = agent
    collector_revoke(collector=collector)
    response = post_batch(client, token, payload())
    assert response.status_code == 401
    assert response.json()["error"] == "The token of collector 'cluster-a' is revoked."
    assert_nothing_stored()
    assert IngestRejection.objects.get().reason == "revoked"


def test_token_is_stored_only_as_a_digest(agent):
    collector, token = agent
    stored = Collector.objects.filter(pk=collector.pk).values().get()
    assert token not in json.dumps(stored, default=str)
    assert token.startswith(f"gac_{collector.token_prefix}_")


def test_rate_limit_answers_429_with_retry_after(agent, client, settings):
    _, token = agent
    settings.INGEST_RATE_LIMIT_PER_MINUTE = 2
    assert post_batch(client, token, payload()).status_code == 202
    assert post_batch(client, token, payload()).status_code == 202
    refused = post_batch(client, token, payload([sample(ts=T0 + timedelta(seconds=30))]))
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["error"].startswith("More than 2 requests per minute for this token")
    assert RawSample.objects.count() == 1  # the third batch's sample was not stored
    post_batch(client, token, payload())
    assert IngestRejection.objects.filter(reason="rate_limited").count() == 1  # once a minute


def test_rate_limit_counts_each_token_separately(agent, client, settings):
    _, token = agent
    _, other_token = make_collector("cluster-b")
    settings.INGEST_RATE_LIMIT_PER_MINUTE = 1
    assert post_batch(client, token, payload()).status_code == 202
    other = payload([sample("GPU-B")], devices=[device("GPU-B")], hostname="b")
    assert post_batch(client, other_token, other).status_code == 202


def test_body_over_the_limit_is_refused_with_413(agent, client, settings):
    _, token = agent
    settings.INGEST_MAX_BODY_BYTES = 2048
    body = payload(samples_every_second("GPU-0001", T0, 40))
    response = post_batch(client, token, body)
    assert response.status_code == 413
    assert "the limit is 2048" in response.json()["error"]
    assert_nothing_stored()
    assert IngestRejection.objects.get().reason == "too_large"


def test_gzip_bomb_is_refused_with_413(agent, client, settings):
    _, token = agent
    settings.INGEST_MAX_DECOMPRESSED_BYTES = 1024 * 1024
    bomb = gzip.compress(b'{"batch_id": "' + b" " * (50 * 1024 * 1024) + b'"}')
    assert len(bomb) < settings.INGEST_MAX_BODY_BYTES
    response = post_batch(client, token, bomb, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert response.json()["error"] == (
        "The body decompresses to more than the limit of 1048576 bytes."
    )
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("body", "encoding", "status", "error"),
    [
        (b"{not json", None, 400, "The body is not valid JSON"),
        (b"", None, 400, "The body is not valid JSON"),
        (b"\xff\xfe\x00", None, 400, "The body is not valid JSON"),
        (b"[1, 2]", None, 400, "The body must be a JSON object."),
        (b"not gzip at all", "gzip", 400, "The body is not valid gzip"),
        (gzip.compress(b"{}")[:-12], "gzip", 400, "The gzip body is truncated."),
        (b"{}", "br", 415, "Content-Encoding 'br': send gzip or none."),
    ],
)
def test_unreadable_body_is_refused(agent, client, body, encoding, status, error):
    _, token = agent
    extra = {"HTTP_CONTENT_ENCODING": encoding} if encoding else {}
    response = post_batch(client, token, body, **extra)
    assert response.status_code == status
    assert response.json()["error"].startswith(error)
    assert_nothing_stored()


def test_invalid_batch_stores_nothing_and_names_every_bad_field(agent, client):
    collector, token = agent
    good = samples_every_second("GPU-0001", T0, 3)
    bad = [sample(power_w="300"), sample(duration_s=-1), sample(energy_j=float("nan"))]
    body = json.dumps(payload(good + bad)).encode()  # NaN goes out as the bare word NaN
    response = post_batch(client, token, body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == "The batch has 3 invalid field(s); nothing was stored."
    assert [d["field"] for d in answer["details"]] == [
        "samples[3].power_w",
        "samples[4].duration_s",
        "samples[5].energy_j",
    ]
    assert_nothing_stored()
    rejection = IngestRejection.objects.get()
    assert (rejection.collector, rejection.status, rejection.reason) == (collector, 400, "invalid")
    assert "samples[3].power_w: Input should be a valid number (got text)" in rejection.message


FAR_FUTURE = "2099-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"power_w": "312.5"}, "samples[1].power_w", "Input should be a valid number (got text)"),
        ({"watts": 3}, "samples[1].watts", "Extra inputs are not permitted"),
        ({"energy_j": float("nan")}, "samples[1].energy_j", "Input should be a finite number"),
        ({"energy_j": float("inf")}, "samples[1].energy_j", "Input should be a finite number"),
        ({"energy_j": -0.5}, "samples[1].energy_j", "greater than or equal to 0"),
        ({"power_w": 5000.5}, "samples[1].power_w", "less than or equal to 5000"),
        ({"duration_s": 0}, "samples[1].duration_s", "greater than 0"),
        ({"duration_s": 3600.001}, "samples[1].duration_s", "less than or equal to 3600"),
        ({"ts": FAR_FUTURE}, "samples[1].ts", "more than 10 minutes ahead"),
        ({"device": "GPU-UNKNOWN"}, "samples[1].device", "is not declared in this batch"),
        ({"tags": [{"project": "p", "share": 1.5}]}, "samples[1].tags[0].share", "less than"),
        (
            {"tags": [{"project": "p", "share": 0.7}, {"project": "q", "share": 0.7}]},
            "samples[1].tags",
            "tag shares sum to 1.4, above 1",
        ),
        ({"energy_j": None, "power_w": None}, "samples[1].energy_j", "give energy_j or power_w"),
    ],
)
def test_each_refusal_names_its_field_and_stores_nothing(agent, client, change, field, message):
    _, token = agent
    bad = sample(ts=T0 + timedelta(seconds=2))
    for key, value in change.items():
        if value is None:
            bad.pop(key)
        else:
            bad[key] = value
    response = post_batch(client, token, payload([sample(), bad]))
    assert response.status_code == 400
    details = response.json()["details"]
    assert [d["field"] for d in details] == [field]
    assert message in details[0]["message"]
    assert_nothing_stored()
    assert IngestRejection.objects.get().status == 400


def test_future_timestamp_is_refused(agent, client):
    _, token = agent
    ahead = timezone.now() + timedelta(minutes=11)
    response = post_batch(client, token, payload([sample(ts=ahead)]))
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "samples[0].ts"
    assert_nothing_stored()


def test_get_is_not_allowed(client):
    assert client.get("/api/v1/ingest").status_code == 405


# --- Dirty hours -------------------------------------------------------------------------------


def dirty_hours():
    return sorted(
        (device_uuid, hour.strftime("%H:%M"))
        for device_uuid, hour in DirtyHour.objects.values_list("device__uuid", "hour")
    )


def test_every_hour_a_sample_touches_is_marked_dirty(agent, client):
    _, token = agent
    devices = [device("GPU-A", 0), device("GPU-B", 1)]
    body = payload(
        [
            sample("GPU-A", ts=T0 + timedelta(minutes=30)),  # 10:30, inside 10:00
            sample("GPU-B", ts=T0 + timedelta(seconds=30), duration_s=60.0),  # straddles 10:00
            sample("GPU-B", ts=T0 + timedelta(hours=2), duration_s=10.0),  # ends at 12:00 exactly
        ],
        devices=devices,
    )
    assert post_batch(client, token, body).status_code == 202
    assert dirty_hours() == [
        ("GPU-A", "10:00"),
        ("GPU-B", "09:00"),
        ("GPU-B", "10:00"),
        ("GPU-B", "11:00"),
    ]


def test_a_late_sample_appends_a_mark_naming_its_batch_and_leaves_the_others_alone(agent, client):
    _, token = agent
    post_batch(client, token, payload([sample(ts=T0 + timedelta(minutes=5))]))
    first = DirtyHour.objects.get()
    DirtyHour.objects.update(refresh_factors=True)  # the rollup's own flag is left alone
    post_batch(client, token, payload([sample(ts=T0 + timedelta(minutes=6))]))
    first.refresh_from_db()
    assert first.refresh_factors is True
    late = DirtyHour.objects.exclude(pk=first.pk).get()
    assert (late.device_id, late.hour) == (first.device_id, first.hour)
    assert late.marked_at > first.marked_at
    assert late.batch_id != first.batch_id
    assert {mark.batch_id for mark in DirtyHour.objects.all()} == set(
        IngestBatch.objects.values_list("pk", flat=True)
    )


def test_resent_samples_do_not_mark_hours_again(agent, client):
    _, token = agent
    body = payload([sample(ts=T0 + timedelta(minutes=5))])
    post_batch(client, token, body)
    DirtyHour.objects.all().delete()  # as the rollup does once it has read the hour
    resent = payload([sample(ts=T0 + timedelta(minutes=5))])
    assert post_batch(client, token, resent).json()["accepted"] == 0
    assert DirtyHour.objects.count() == 0
