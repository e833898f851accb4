"""Collectors, tokens and ingest payloads for the tests."""

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta

from collectors.services import collector_create

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def make_collector(name: str = "cluster-a", **kwargs):
    """(collector, token). With the back-fill permission unless told otherwise: the fixtures'
    timestamps are fixed dates that fall out of the retention window as the calendar moves on
    (the window's own tests make collectors without it)."""
    kwargs.setdefault("allow_backfill", True)
    return collector_create(name=name, **kwargs)


def device(uuid_: str = "GPU-0001", index: int = 0, **extra) -> dict:
    return {
        "uuid": uuid_,
        "kind": "gpu",
        "index": index,
        "name": "NVIDIA H100 80GB HBM3",
        "power_limit_w": 700,
        **extra,
    }


def sample(device_uuid: str = "GPU-0001", ts: datetime | None = None, **extra) -> dict:
    values = {
        "device": device_uuid,
        "ts": (ts or T0 + timedelta(seconds=1)).isoformat().replace("+00:00", "Z"),
        "duration_s": 1.0,
        "energy_j": 312.5,
        "power_w": 312.5,
        "util_pct": 87,
        "mem_used_mib": 40960,
    }
    values.update(extra)
    return values


def samples_every_second(device_uuid: str, start: datetime, count: int, **extra) -> list[dict]:
    return [sample(device_uuid, start + timedelta(seconds=i + 1), **extra) for i in range(count)]


def payload(
    samples: list[dict] | None = None,
    devices: list[dict] | None = None,
    hostname: str = "gpu-node-01",
    batch_id: str | None = None,
) -> dict:
    return {
        "batch_id": batch_id or str(uuid.uuid4()),
        "host": {"hostname": hostname, "agent_version": "0.1.0"},
        "devices": [device()] if devices is None else devices,
        "samples": [sample()] if samples is None else samples,
    }


def post_batch(client, token: str | None, body, *, compress: bool = False, **headers):
    """POST to the ingest API through Django's test client; body: dict or raw bytes."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    if compress:
        data = gzip.compress(data)
        headers.setdefault("HTTP_CONTENT_ENCODING", "gzip")
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.post("/api/v1/ingest", data=data, content_type="application/json", **headers)
