"""The ingest payload's rules, checked on plain dicts (no database)."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from collectors.intervals import hours_touched
from collectors.schemas import IngestPayload, parse_timestamp
from collectors.services import BatchTooLarge, IngestValidationError, ingest_validate
from tests.collectors.factories import T0, device, payload, sample

NOW = T0 + timedelta(days=1)


def problems(body) -> dict[str, str]:
    with pytest.raises(IngestValidationError) as caught:
        ingest_validate(body, now=NOW)
    return {detail["field"]: detail["message"] for detail in caught.value.details}


def test_valid_batch_parses_with_energy_from_power_when_missing():
    body = payload([sample(energy_j=None, power_w=250.0, duration_s=2.0)])
    del body["samples"][0]["energy_j"]
    batch = ingest_validate(body, now=NOW)
    assert batch.samples[0].energy_j == 500.0


def test_every_bad_field_is_named_in_one_answer():
    body = payload(
        [
            sample(power_w="312"),
            sample(energy_j=-1.0),
            sample(duration_s=0),
            sample(duration_s=3601),
            sample(power_w=5001),
        ]
    )
    found = problems(body)
    assert found["samples[0].power_w"] == "Input should be a valid number (got text)"
    assert "greater than or equal to 0" in found["samples[1].energy_j"]
    assert "greater than 0" in found["samples[2].duration_s"]
    assert "less than or equal to 3600" in found["samples[3].duration_s"]
    assert "less than or equal to 5000" in found["samples[4].power_w"]
    assert len(found) == 5


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused(value):
    assert problems(payload([sample(energy_j=value)])) == {
        "samples[0].energy_j": "Input should be a finite number"
    }


def test_unknown_fields_are_refused_at_every_level():
    body = payload([sample(watts=3)])
    body["extra"] = 1
    body["host"]["os"] = "linux"
    body["devices"][0]["colour"] = "green"
    found = problems(body)
    assert set(found) == {"extra", "host.os", "devices[0].colour", "samples[0].watts"}
    assert found["extra"] == "Extra inputs are not permitted"


def test_boolean_is_not_a_number():
    assert problems(payload([sample(util_pct=True)])) == {
        "samples[0].util_pct": "Input should be a valid number (got a boolean)"
    }


def test_sample_needs_energy_or_power():
    body = payload([sample()])
    del body["samples"][0]["energy_j"]
    del body["samples"][0]["power_w"]
    assert problems(body) == {
        "samples[0].energy_j": "give energy_j or power_w (energy is then power_w * duration_s)"
    }


def test_energy_implying_more_than_5_kw_is_refused():
    found = problems(payload([sample(energy_j=12_000.0, power_w=None, duration_s=2.0)]))
    assert found == {
        "samples[0].energy_j": "12000 J over 2 s is a mean power of 6000 W, above the 5000 W limit"
    }


def test_timestamp_more_than_ten_minutes_ahead_is_refused():
    ahead = NOW + timedelta(minutes=10, seconds=1)
    just_fine = NOW + timedelta(minutes=9)
    found = problems(payload([sample(ts=ahead), sample(ts=just_fine)]))
    assert list(found) == ["samples[0].ts"]
    assert "more than 10 minutes ahead of the server clock" in found["samples[0].ts"]


def test_timestamp_older_than_the_retention_is_refused(settings):
    settings.RAW_SAMPLE_RETENTION_DAYS = 35
    too_old = NOW - timedelta(days=35, seconds=1)
    inside = NOW - timedelta(days=34, hours=23)
    found = problems(payload([sample(ts=inside), sample(ts=too_old), sample(ts=NOW)]))
    assert list(found) == ["samples[1].ts"]
    assert found["samples[1].ts"] == (
        f"{too_old.isoformat()} is before {(NOW - timedelta(days=35)).isoformat()}: older than"
        " the raw-sample retention; back-filling needs a collector with the back-fill permission"
    )


def test_backfill_window_reaches_back_to_2000_and_no_further():
    earliest = datetime(2000, 1, 1, tzinfo=UTC)
    old = sample(ts=datetime(2000, 1, 1, 0, 0, 1, tzinfo=UTC))
    before = sample(ts=datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC))
    epoch = sample()
    epoch["ts"] = 0
    with pytest.raises(IngestValidationError) as caught:
        ingest_validate(payload([old, before, epoch]), now=NOW, earliest=earliest)
    found = {d["field"]: d["message"] for d in caught.value.details}
    assert list(found) == ["samples[1].ts", "samples[2].ts"]
    assert found["samples[2].ts"] == (
        "1970-01-01T00:00:00+00:00 is before 2000-01-01T00:00:00+00:00:"
        " samples before 2000 are refused"
    )
    # An earlier floor than 2000 is never honoured.
    with pytest.raises(IngestValidationError):
        ingest_validate(payload([before]), now=NOW, earliest=datetime(1990, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "ts",
    [
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:30:00+05:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:01",
        -62135596801,
        253402300800,
        1e19,
        -1e19,
    ],
)
def test_timestamps_at_the_ends_of_the_calendar_are_a_400_not_an_overflow(ts):
    body = payload([sample(duration_s=3600)])
    body["samples"][0]["ts"] = ts
    found = problems(body)
    assert list(found) == ["samples[0].ts"]


def test_bad_timestamps_are_named():
    body = payload(
        [sample(), sample(), sample(), sample()],
    )
    body["samples"][0]["ts"] = "yesterday"
    body["samples"][1]["ts"] = True
    body["samples"][2]["ts"] = 1e300
    body["samples"][3]["ts"] = None
    found = problems(body)
    assert found["samples[0].ts"].startswith("'yesterday' is not an ISO 8601 timestamp")
    assert "not a boolean" in found["samples[1].ts"]
    assert "out of range" in found["samples[2].ts"]
    assert "ISO 8601 text or epoch seconds" in found["samples[3].ts"]


def test_timestamps_as_iso_with_offset_naive_or_epoch_seconds_are_utc():
    expected = datetime(2026, 11, 20, 10, 0, 1, tzinfo=UTC)
    assert parse_timestamp("2026-11-20T10:00:01Z") == expected
    assert parse_timestamp("2026-11-20T11:00:01+01:00") == expected
    assert parse_timestamp("2026-11-20T10:00:01") == expected
    assert parse_timestamp(expected.timestamp()) == expected
    assert parse_timestamp(int(expected.timestamp())) == expected


def test_tag_shares_must_lie_in_0_1_and_sum_to_at_most_1():
    body = payload(
        [
            sample(tags=[{"project": "a", "share": 1.2}]),
            sample(tags=[{"project": "a", "share": 0.6}, {"project": "b", "share": 0.5}]),
            sample(tags=[{"project": "a", "share": 0.5}, {"project": "b", "share": 0.5}]),
            sample(tags=[{"project": "", "share": 0.5}]),
            sample(tags=[{"project": "a", "share": -0.1}]),
        ]
    )
    found = problems(body)
    assert "less than or equal to 1" in found["samples[0].tags[0].share"]
    assert found["samples[1].tags"] == "tag shares sum to 1.1, above 1"
    assert "samples[2].tags" not in found
    assert "at least 1 character" in found["samples[3].tags[0].project"]
    assert "greater than or equal to 0" in found["samples[4].tags[0].share"]


def test_shares_summing_to_one_with_rounding_noise_are_accepted():
    thirds = [{"project": p, "share": 1 / 3} for p in "abc"]
    ingest_validate(payload([sample(tags=thirds)]), now=NOW)


def test_device_declared_twice_and_bad_batch_id_are_named():
    body = payload(devices=[device("GPU-1"), device("GPU-1", index=1)])
    body["batch_id"] = "not-a-uuid"
    found = problems(body)
    assert found["devices[1].uuid"] == "device 'GPU-1' is already declared at devices[0]"
    assert "valid UUID" in found["batch_id"]


def test_missing_required_parts_are_named():
    found = problems({"samples": []})
    assert found == {"batch_id": "Field required", "host": "Field required"}


def test_body_that_is_not_an_object_is_refused():
    with pytest.raises(IngestValidationError) as caught:
        ingest_validate([1, 2], now=NOW)
    assert caught.value.error == "The body must be a JSON object."


@pytest.mark.parametrize(
    ("end", "duration_s", "hours"),
    [
        ("10:30:00", 1.0, ["10:00"]),
        ("10:00:30", 60.0, ["09:00", "10:00"]),  # straddles 10:00
        ("10:00:00", 1.0, ["09:00"]),  # the end is exclusive
        ("10:00:00", 3600.0, ["09:00"]),
        ("10:00:01", 3600.0, ["09:00", "10:00"]),
        ("10:00:00.000001", 0.000001, ["10:00"]),
    ],
)
def test_hours_touched_by_an_interval(end, duration_s, hours):
    ts = datetime.fromisoformat(f"2026-11-20T{end}+00:00")
    touched = hours_touched(ts, duration_s)
    assert [h.strftime("%H:%M") for h in touched] == hours


def test_openapi_schema_documents_the_ingest_endpoint():
    from greenai_site.openapi import build_schema

    schema = build_schema()
    operation = schema["paths"]["/api/v1/ingest"]["post"]
    assert operation["security"] == [{"collectorToken": []}]
    assert {"400", "401", "403", "413", "429"} <= set(operation["responses"])
    sample_schema = schema["components"]["schemas"]["SampleIn"]
    assert sample_schema["additionalProperties"] is False
    assert {"type": "number"} in sample_schema["properties"]["ts"]["anyOf"]


@pytest.mark.parametrize("character", ["\x00", "\x01", "\t", "\n", "\x1f", "\x7f", "\x85", "\x9f"])
def test_control_characters_are_refused_in_every_string(character):
    body = payload(
        [
            sample(
                "GPU-0001",
                tags=[{"project": f"p{character}", "phase": f"t{character}", "share": 1}],
            )
        ],
        devices=[device("GPU-0001", name=f"H100{character}", parent_uuid=f"GPU{character}")],
        hostname=f"gpu{character}node",
    )
    body["host"]["agent_version"] = f"0.1{character}"
    body["samples"].append(sample(f"GPU{character}2"))
    found = problems(body)
    assert set(found) == {
        "host.hostname",
        "host.agent_version",
        "devices[0].name",
        "devices[0].parent_uuid",
        "samples[0].tags[0].project",
        "samples[0].tags[0].phase",
        "samples[1].device",
    }
    code = f"U+{ord(character):04X}"
    assert found["host.hostname"] == f"control character {code} at position 3; send printable text"


def test_device_uuid_with_a_control_character_is_refused():
    found = problems(payload([sample("GPU\x00")], devices=[device("GPU\x00")]))
    assert set(found) == {"devices[0].uuid", "samples[0].device"}


def test_printable_unicode_is_accepted():
    body = payload(devices=[device(name="Grafikkarte Ü – 加速器")], hostname="knoten-ü")
    assert ingest_validate(body, now=NOW).host.hostname == "knoten-ü"


def test_unknown_key_with_a_control_character_is_named_escaped():
    body = payload()
    body["host"]["os\x00"] = 1
    assert problems(body) == {"host.os\\x00": "Extra inputs are not permitted"}


def test_more_than_20000_samples_is_a_413_naming_the_maximum():
    body = payload([sample(ts=T0 + timedelta(seconds=n % 3000 + 1)) for n in range(20_001)])
    with pytest.raises(BatchTooLarge) as caught:
        ingest_validate(json.dumps(body), now=NOW)
    assert caught.value.status == 413
    assert caught.value.error == (
        "The batch has 20001 samples; the maximum is 20000. Send them in several batches."
    )
    body["samples"].pop()
    assert len(ingest_validate(json.dumps(body), now=NOW).samples) == 20_000


def test_more_than_16_tags_on_a_sample_are_refused():
    tags = [{"project": f"p{n}", "share": 0.05} for n in range(17)]
    assert "at most 16 items" in problems(payload([sample(tags=tags)]))["samples[0].tags"]


def test_schema_declares_the_limits_clients_must_keep():
    schema = IngestPayload.model_json_schema()
    assert schema["properties"]["samples"]["maxItems"] == 20_000
    hostname = schema["$defs"]["HostIn"]["properties"]["hostname"]
    assert hostname["pattern"] == "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    assert schema["$defs"]["SampleIn"]["properties"]["tags"]["anyOf"][0]["maxItems"] == 16
