"""gunicorn with greenai_site/gunicorn_conf.py and 3 workers: /metrics shows the counts of all
workers, whichever answers the scrape, and a restart starts from an emptied directory."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import WebServer

CONFIG = ["--config", "python:greenai_site.gunicorn_conf"]
UNAUTHORIZED = ("greenai_ingest_requests_total", (("status", "401"),))


def counters(text: str) -> dict:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def send_refused_batches(url: str, count: int) -> None:
    """`count` ingest requests with a bad token, six at a time on fresh connections, so that
    several workers answer them (a sync worker takes one request at a time)."""

    def send(_):
        answer = requests.post(
            f"{url}/api/v1/ingest",
            json={"batch_id": "x"},
            headers={"Authorization": "Bearer gac_00000000_nope", "Connection": "close"},
            timeout=60,
        )
        return answer.status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert set(pool.map(send, range(count))) == {401}


def scrapes_until(url: str, predicate, deadline_s: float = 60) -> list[dict]:
    """Scrapes (fresh connections) until one satisfies predicate; returns the last eight."""
    deadline = time.monotonic() + deadline_s
    seen = []
    while True:
        text = requests.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=60).text
        seen.append(counters(text))
        if predicate(seen[-1]) or time.monotonic() > deadline:
            break
    seen += [
        counters(requests.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=60).text)
        for _ in range(8)
    ]
    return seen[-8:]


@pytest.mark.django_db(transaction=True)
def test_counters_summed_over_three_workers_equal_the_requests_sent(tmp_path):
    metrics_dir = tmp_path / "prometheus"
    sent = 30
    web = WebServer(
        tmp_path, workers=3, extra_args=CONFIG, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    )
    web.start()
    try:
        send_refused_batches(web.url, sent)
        scrapes = scrapes_until(web.url, lambda values: values.get(UNAUTHORIZED) == sent)
        workers_counting = len(list(metrics_dir.glob("counter_*.db")))
    finally:
        web.stop()
    # Several workers answered (each keeps its own file) and every scrape, whichever worker
    # answered it, shows the sum of all of them.
    assert workers_counting >= 2, workers_counting
    for values in scrapes:
        assert values.get(UNAUTHORIZED) == sent
        assert (
            values.get(("greenai_ingest_rejections_total", (("reason", "unauthorized"),))) == sent
        )

    # A restart with the same directory: gunicorn_conf empties it first, so the counts start
    # from zero instead of adding the previous run's.
    web = WebServer(
        tmp_path, workers=3, extra_args=CONFIG, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    )
    web.start()
    try:
        send_refused_batches(web.url, 5)
        scrapes = scrapes_until(web.url, lambda values: values.get(UNAUTHORIZED) == 5)
    finally:
        web.stop()
    for values in scrapes:
        assert values.get(UNAUTHORIZED) == 5


def test_gunicorn_conf_empties_the_directory_and_creates_a_missing_one(tmp_path):
    from greenai_site.gunicorn_conf import multiprocess_dir_prepare

    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "counter_123.db").write_bytes(b"\0" * 16)
    (existing / "histogram_456.db").write_bytes(b"\0" * 16)
    multiprocess_dir_prepare(str(existing))
    assert list(existing.iterdir()) == []
    missing = tmp_path / "missing" / "prometheus"
    multiprocess_dir_prepare(str(missing))
    assert missing.is_dir()
