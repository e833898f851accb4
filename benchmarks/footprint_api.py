"""The 30-day organisation footprint API at fleet size: GET /api/v1/footprint, p50 and p95.

    .venv/bin/python benchmarks/footprint_api.py [--gpus 5000] [--days 30] [--requests 20]
        [--server postgres://postgres@127.0.0.1:5432] [--keep] [--reuse]

Creates its own PostgreSQL database (greenai_bench_footprint_api) and fills it the way
benchmarks/pages.py does (hosts of 8 GPUs at two sites, twenty projects, hourly device and
project facts for every GPU-hour, built with SQL generate_series), then the daily aggregates the
rollup keeps (daily_facts_refresh). Times the 30-day organisation footprint through Django's test
client (the read API with its factors), and, for comparison, a few requests with the reads
forced onto the hourly facts (the path used before the daily aggregates held coverage and
un-measured embodied carbon). Target: p95 at most 100 ms at 5,000 devices, and at least
twice as fast as the code before the in-service rows (benchmarks/before_after.sh runs both).

Filling 5,000 GPUs x 30 days takes about 9 minutes on a 2-core machine: `--keep` leaves the
database, and `--reuse` times a kept one again (migrating it to the current code first).
"""

import argparse
import os
import platform
import statistics
import time
from datetime import timedelta

import pages
from bench_db import drop_database, recreate_database

DB_NAME = "greenai_bench_footprint_api"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=5000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--hourly-requests", type=int, default=3)
    parser.add_argument("--server", default=pages._default_server())
    parser.add_argument("--db-name", default=DB_NAME, help="the database to fill or reuse")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument(
        "--reuse", action="store_true", help="time the database a --keep run left (no refill)"
    )
    return parser.parse_args()


def timed(client, url: str, requests: int) -> dict:
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(pages.percentile(times, 0.95), 1),
        "max_ms": round(max(times), 1),
    }


def main():
    args = parse_args()
    pages.DB_NAME = args.db_name
    if not args.reuse:
        recreate_database(args.server, args.db_name)
    pages.setup_django(args.server)
    try:
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.utils import timezone

        from assessments.footprint import selectors
        from assessments.footprint.daily_facts import daily_facts_refresh
        from assessments.footprint.in_service import in_service_refresh
        from assessments.models import DailyDeviceFact, HourlyDeviceFact, UserProfile

        end = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        if args.reuse:
            end = HourlyDeviceFact.objects.latest("hour").hour.replace(minute=0) + timedelta(
                hours=1
            )
            fill_seconds = refresh_seconds = 0.0
            user = get_user_model().objects.get(username="bench")
        else:
            projects = pages.make_inventory(args.gpus)
            fill_seconds = pages.fill_facts(args.days, end)
            pages.make_work_records(projects, args.days, end)
            began = time.perf_counter()
            daily_facts_refresh(start=end - timedelta(days=args.days), end=end)
            refresh_seconds = time.perf_counter() - began
            user = get_user_model().objects.create_user("bench")
            UserProfile.objects.create(user=user, role=UserProfile.Role.VIEWER)
        # What the rollup does after the migration or an inventory edit: the in-service rows.
        began = time.perf_counter()
        in_service_refresh()
        in_service_seconds = time.perf_counter() - began
        client = Client()
        client.force_login(user)
        first = (end - timedelta(days=args.days)).date()
        url = f"/api/v1/footprint?start={first}&end={end.date()}"
        client.get(url)  # warm up imports and connections
        pages.web_process_state()
        daily = timed(client, url, args.requests)
        answer = client.get(url).json()
        selectors_whole_days = selectors._whole_days
        selectors._whole_days = lambda *_: False
        try:
            hourly = timed(client, url, args.hourly_requests)
            hourly_answer = client.get(url).json()
        finally:
            selectors._whole_days = selectors_whole_days
        for key in ("energy_kwh", "embodied_kgco2e", "coverage", "unallocated_embodied_kgco2e"):
            assert abs(answer[key] - hourly_answer[key]) <= 1e-9 * max(1.0, abs(answer[key])), key
        print(f"host: {platform.node()} ({os.cpu_count()} CPUs)")
        print(
            f"{args.gpus} GPUs x {args.days} days: {HourlyDeviceFact.objects.count():,} hourly "
            f"device facts ({fill_seconds:.0f} s to fill), "
            f"{DailyDeviceFact.objects.count():,} daily device facts ({refresh_seconds:.0f} s), "
            f"in-service rows built in {in_service_seconds:.1f} s"
        )
        print(
            f"GET {url}: p50 {daily['p50_ms']} ms, p95 {daily['p95_ms']} ms, "
            f"max {daily['max_ms']} ms over {args.requests} requests; target p95 <= 100 ms: "
            f"{'met' if daily['p95_ms'] <= 100 else 'NOT met'}"
        )
        print(
            f"same request read from the hourly facts: p50 {hourly['p50_ms']} ms, "
            f"p95 {hourly['p95_ms']} ms over {args.hourly_requests} requests (same figures)"
        )
    finally:
        if not (args.keep or args.reuse):
            drop_database(args.server, args.db_name)


if __name__ == "__main__":
    main()
