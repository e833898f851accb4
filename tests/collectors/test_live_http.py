"""The ingest API over real HTTP: gunicorn serving the app against the test database."""

import gzip
import json
import uuid
from datetime import timedelta

import pytest
import requests

from collectors.models import IngestBatch, RawSample
from tests.collectors.factories import T0, make_collector, payload, samples_every_second
from tests.processes import WebServer


@pytest.fixture
def server(transactional_db, tmp_path):
    web = WebServer(tmp_path, workers=1, INGEST_MAX_DECOMPRESSED_BYTES=str(1024 * 1024))
    web.start()
    yield web
    web.stop()


def test_agent_traffic_over_http(server):
    _, token = make_collector()
    url = f"{server.url}/api/v1/ingest"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    body = gzip.compress(json.dumps(payload(samples_every_second("GPU-0001", T0, 100))).encode())
    gzip_headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}

    first = session.post(url, data=body, headers=gzip_headers, timeout=30)
    assert (first.status_code, first.json()) == (202, {"accepted": 100, "duplicate": False})
    resent = session.post(url, data=body, headers=gzip_headers, timeout=30)
    assert (resent.status_code, resent.json()) == (200, {"accepted": 0, "duplicate": True})

    # 2 MiB of zeros inside a valid batch_id string: a few kB on the wire, over the 1 MiB cap.
    bomb = gzip.compress(
        b'{"batch_id": "' + str(uuid.uuid4()).encode() + b" " * (2 * 1024 * 1024) + b'"}'
    )
    refused = session.post(url, data=bomb, headers=gzip_headers, timeout=30)
    assert refused.status_code == 413
    assert "decompresses to more than the limit" in refused.json()["error"]

    unauthorized = requests.post(url, json=payload(), timeout=30)
    assert unauthorized.status_code == 401

    assert RawSample.objects.count() == 100
    assert IngestBatch.objects.count() == 1
    metrics = requests.get(f"{server.url}/metrics", timeout=30).text
    assert 'greenai_ingest_requests_total{status="202"} 1.0' in metrics
    assert 'greenai_ingest_rejections_total{reason="too_large"} 1.0' in metrics


def test_metrics_sum_all_workers_in_multiprocess_mode(transactional_db, tmp_path):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    web = WebServer(tmp_path, workers=2, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    web.start()
    try:
        _, token = make_collector()
        for start in range(0, 60, 10):
            body = payload(samples_every_second("GPU-0001", T0 + timedelta(seconds=start), 10))
            # A fresh connection each time, so that both workers answer some of them.
            response = requests.post(
                f"{web.url}/api/v1/ingest",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert response.status_code == 202
        scrapes = {requests.get(f"{web.url}/metrics", timeout=30).text for _ in range(4)}
    finally:
        web.stop()
    # Both workers kept counters (one file each); every scrape shows their sum.
    assert len(list(metrics_dir.glob("counter_*.db"))) == 2
    for text in scrapes:
        assert "greenai_ingest_samples_accepted_total 60.0" in text
        assert 'greenai_ingest_requests_total{status="202"} 6.0' in text
