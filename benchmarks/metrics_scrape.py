"""GET /metrics with the footprint gauges (METRICS_TOKEN set) at fleet size: a scrape that
computes the figures (cache empty) and the scrapes served from the cache, p50 and p95.

    .venv/bin/python benchmarks/metrics_scrape.py [--gpus 1000] [--days 31] [--scrapes 30]
        [--server postgres://postgres@127.0.0.1:5432]

Creates its own PostgreSQL database (greenai_bench_metrics) and fills it the way
benchmarks/pages.py does (hosts of 8 GPUs at two sites, twenty projects of five teams, hourly
device and project facts for every GPU-hour up to the current hour), then the daily aggregates
the rollup keeps. Times /metrics without the token (the health figures only: a few queries),
with it from the cache, and with it computing the figures (cache empty, once a minute).
Target: the footprint gauges add under 10 ms (p50) to a cached scrape, whatever the fleet.
"""

import argparse
import os
import platform
import statistics
import time
from datetime import timedelta

import pages
from bench_db import drop_database, recreate_database

DB_NAME = "greenai_bench_metrics"
TOKEN = "bench-metrics-token-0123456789"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=1000)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--server", default=pages._default_server())
    return parser.parse_args()


def scrape_ms(client, *, token: bool = True) -> float:
    from django.conf import settings

    settings.METRICS_TOKEN = TOKEN if token else ""
    began = time.perf_counter()
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    elapsed = (time.perf_counter() - began) * 1000
    assert response.status_code == 200, response.content[:300]
    assert (b'greenai_footprint_energy_kwh{team="' in response.content) == token
    return elapsed


def summary(times: list[float]) -> str:
    return (
        f"p50 {statistics.median(times):.1f} ms, p95 {pages.percentile(times, 0.95):.1f} ms,"
        f" max {max(times):.1f} ms over {len(times)}"
    )


def main():
    args = parse_args()
    pages.DB_NAME = DB_NAME
    recreate_database(args.server, DB_NAME)
    pages.setup_django(args.server)
    try:
        from django.core.cache import cache
        from django.test import Client
        from django.utils import timezone

        from assessments.footprint.daily_facts import daily_facts_refresh
        from assessments.models import HourlyDeviceFact

        end = timezone.now().replace(minute=0, second=0, microsecond=0)
        pages.make_inventory(args.gpus)
        fill_seconds = pages.fill_facts(args.days, end)
        daily_facts_refresh(start=end - timedelta(days=args.days), end=end)
        client = Client()
        cache.clear()
        scrape_ms(client)  # imports and connections
        computed = []
        for _ in range(max(3, args.scrapes // 5)):
            cache.clear()
            computed.append(scrape_ms(client))
        cached, health = [], []
        for _ in range(args.scrapes):  # interleaved, so that both see the same machine load
            cached.append(scrape_ms(client))
            health.append(scrape_ms(client, token=False))
        print(f"host: {platform.node()} ({os.cpu_count()} CPUs)")
        print(
            f"{args.gpus} GPUs x {args.days} days up to now: "
            f"{HourlyDeviceFact.objects.count():,} hourly device facts ({fill_seconds:.0f} s)"
        )
        print(f"/metrics computing the footprint figures: {summary(computed)}")
        print(f"/metrics with the footprint gauges from the cache: {summary(cached)}")
        print(f"/metrics without METRICS_TOKEN (health figures only): {summary(health)}")
        added = statistics.median(cached) - statistics.median(health)
        print(
            f"the footprint gauges add {added:.1f} ms (p50) to a cached scrape; target < 10 ms: "
            f"{'met' if added < 10 else 'NOT met'}"
        )
    finally:
        drop_database(args.server, DB_NAME)


if __name__ == "__main__":
    main()
