"""Server time of the overview and project pages with one year of hourly facts for 500 GPUs.

    .venv/bin/python benchmarks/pages.py [--gpus 500] [--days 365] [--requests 20]
        [--server postgres://postgres@127.0.0.1:5432] [--keep] [--reuse]

Creates its own PostgreSQL database (greenai_bench_pages), fills it with SQL generate_series:
500 GPUs on 63 hosts at two sites, five teams, twenty projects, a year of hourly device facts
(~4.4 million) and as many project facts (a tenth of the GPUs unallocated, with a day/night
pattern), then builds the daily aggregates the dashboards read (daily_facts_refresh) and times
each page through Django's test client: the page itself, and each chart JSON endpoint it fetches
with the cache cleared before every request (so every figure is computed). Target: p95 under
200 ms per request. The database is dropped afterwards unless --keep.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_db import drop_database, recreate_database

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "greenai_bench_pages"
GPUS_PER_HOST = 8
PROJECTS = 20
TEAMS = 5


def _default_server() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url.rsplit("/", 1)[0]
    return "postgres://postgres@127.0.0.1:5432"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=500)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--server", default=_default_server())
    parser.add_argument("--db-name", default=DB_NAME, help="the database to fill or reuse")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument(
        "--reuse", action="store_true", help="time the pages of a database kept by --keep"
    )
    return parser.parse_args()


def setup_django(server: str) -> None:
    os.environ["DATABASE_URL"] = f"{server}/{DB_NAME}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "greenai_site.settings")
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ["CACHE_URL"] = "locmem://"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # Pages render {% static %} without a collectstatic manifest here.
    settings.STORAGES["staticfiles"] = {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
    }
    call_command("migrate", verbosity=0)


def web_process_state() -> None:
    """What a web worker of this tree does once loaded (greenai_site.wsgi), so that requests are
    timed as it serves them: trees without it (older code) are timed as they are."""
    try:
        from greenai_site.startup import freeze_loaded
    except ImportError:
        return
    freeze_loaded()


def make_inventory(gpus: int):
    from assessments.models import GridZone, HardwareModel, Phase, Project, Site, Team
    from collectors.models import Device, Host

    zones = [("BENCH-A", 56.0), ("BENCH-B", 400.0)]
    for code, intensity in zones:
        GridZone.objects.update_or_create(
            code=code, defaults={"name": code, "gco2e_per_kwh": intensity, "source": "bench"}
        )
    sites = [
        Site.objects.create(
            name=f"site-{n}", grid_zone=code, pue=1.2 + 0.1 * n, energy_price_per_kwh=0.2
        )
        for n, (code, _) in enumerate(zones)
    ]
    HardwareModel.objects.create(
        kind="gpu", name="Bench GPU", embodied_kgco2e=150, lifetime_years=4, source="bench"
    )
    teams = [Team.objects.create(name=f"Team {n}", slug=f"team-{n}") for n in range(TEAMS)]
    phases = list(Phase.values)
    projects = [
        Project.objects.create(
            slug=f"project-{n}",
            name=f"Project {n}",
            team=teams[n % TEAMS],
            phase=phases[n % len(phases)],
            work_unit="inferences",
        )
        for n in range(PROJECTS)
    ]
    devices = []
    for host_index in range((gpus + GPUS_PER_HOST - 1) // GPUS_PER_HOST):
        host = Host.objects.create(
            hostname=f"node-{host_index:03d}",
            site=sites[host_index % 2],
            purchased=datetime(2023, 1, 1).date() + timedelta(days=30 * (host_index % 30)),
            lifetime_years=4,
        )
        for index in range(min(GPUS_PER_HOST, gpus - len(devices))):
            devices.append(
                Device(uuid=f"GPU-{host_index}-{index}", host=host, index=index, name="Bench GPU")
            )
    Device.objects.bulk_create(devices)
    return projects


def fill_facts(days: int, end: datetime) -> float:
    """A year of hourly facts with generate_series; returns the seconds it took."""
    from django.db import connection

    start = end - timedelta(days=days)
    began = time.perf_counter()
    with connection.cursor() as cursor:
        # Utilisation follows the day: busy by day, quieter at night, a tenth of GPUs idle.
        cursor.execute(
            """
            CREATE TEMP TABLE bench_hours AS
            SELECT d.id AS device_id, h.hour, host.site_id, s.pue, s.energy_price_per_kwh AS price,
                   z.gco2e_per_kwh AS grid,
                   CASE WHEN d.id %% 10 = 0 THEN 2.0
                        ELSE 35 + 55 * (extract(hour FROM h.hour) BETWEEN 8 AND 20)::int
                             + (d.id * 7 %% 10) END AS util
            FROM collectors_device d
            JOIN collectors_host host ON host.id = d.host_id
            JOIN assessments_site s ON s.id = host.site_id
            JOIN assessments_gridzone z ON z.code = s.grid_zone
            CROSS JOIN generate_series(%s::timestamptz, %s::timestamptz - interval '1 hour',
                                       interval '1 hour') AS h(hour)
            """,
            [start, end],
        )
        cursor.execute(
            """
            INSERT INTO assessments_hourlydevicefact
              (device_id, hour, site_id, measured_seconds, coverage, util_mean_pct,
               energy_it_kwh, energy_facility_kwh, operational_kgco2e, embodied_kgco2e, cost,
               gpu_hours, pue, grid_gco2e_per_kwh, grid_source, price_per_kwh,
               embodied_kgco2e_per_hour, factor_notes, computed_at)
            SELECT device_id, hour, site_id, 3540, 3540 / 3600.0, util,
                   0.07 + 0.6 * util / 100, (0.07 + 0.6 * util / 100) * pue,
                   (0.07 + 0.6 * util / 100) * pue * grid / 1000, 0.0043,
                   (0.07 + 0.6 * util / 100) * pue * price, 1, pue, grid, 'bench', price,
                   0.0043, '[]'::jsonb, now()
            FROM bench_hours
            """
        )
        cursor.execute(
            """
            INSERT INTO assessments_hourlyprojectfact
              (device_id, hour, project_id, attribution, team_id, site_id, phase,
               energy_it_kwh, energy_facility_kwh, operational_kgco2e, embodied_kgco2e, cost,
               gpu_hours)
            SELECT b.device_id, b.hour, p.id,
                   CASE WHEN p.id IS NULL THEN 'unallocated' ELSE 'allocation' END,
                   p.team_id, b.site_id, coalesce(p.phase, ''),
                   0.07 + 0.6 * util / 100, (0.07 + 0.6 * util / 100) * pue,
                   (0.07 + 0.6 * util / 100) * pue * grid / 1000, 0.0043,
                   (0.07 + 0.6 * util / 100) * pue * price, 1
            FROM bench_hours b
            LEFT JOIN assessments_project p
              ON b.device_id %% 10 <> 0
             AND p.slug = 'project-' || (b.device_id %% %s)
            """,
            [PROJECTS],
        )
        cursor.execute("DROP TABLE bench_hours")
        cursor.execute("ANALYZE")
    return time.perf_counter() - began


def make_work_records(projects, days: int, end: datetime) -> None:
    from assessments.models import WorkRecord

    records = []
    for project in projects:
        for day in range(days):
            day_start = end - timedelta(days=days - day)
            records.append(
                WorkRecord(
                    project=project,
                    period_start=day_start,
                    period_end=day_start + timedelta(days=1),
                    units=100_000 + 1000 * (day % 7),
                )
            )
    WorkRecord.objects.bulk_create(records, batch_size=5000)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]


def time_requests(client, url: str, requests: int) -> dict:
    from django.core.cache import cache

    times = []
    for _ in range(requests):
        cache.clear()
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return {
        "url": url,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(percentile(times, 0.95), 1),
        "max_ms": round(max(times), 1),
    }


def main():
    args = parse_args()
    global DB_NAME
    DB_NAME = args.db_name
    if not args.reuse:
        recreate_database(args.server, DB_NAME)
    setup_django(args.server)
    try:
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.utils import timezone

        from assessments.dashboards.chart_json import CHARTS, PROJECT_CHARTS
        from assessments.footprint.daily_facts import daily_facts_refresh
        from assessments.footprint.in_service import in_service_refresh
        from assessments.models import HourlyDeviceFact, Project, UserProfile

        end = timezone.now().replace(minute=0, second=0, microsecond=0)
        fill_seconds = refresh_seconds = None
        if args.reuse:
            projects = list(Project.objects.order_by("id"))
            user = get_user_model().objects.get(username="bench")
        else:
            projects = make_inventory(args.gpus)
            fill_seconds = fill_facts(args.days, end)
            make_work_records(projects, args.days, end)
            began = time.perf_counter()
            daily_facts_refresh(start=end - timedelta(days=args.days), end=end)
            refresh_seconds = time.perf_counter() - began
            user = get_user_model().objects.create_user("bench")
            UserProfile.objects.create(user=user, role=UserProfile.Role.VIEWER)
        # What the rollup pays per run: one day's aggregates rebuilt.
        began = time.perf_counter()
        daily_facts_refresh(start=end - timedelta(hours=1), end=end)
        one_day_seconds = time.perf_counter() - began
        # What the rollup does after the migration or an inventory edit: the in-service rows.
        began = time.perf_counter()
        in_service_refresh()
        in_service_seconds = time.perf_counter() - began

        client = Client()
        client.force_login(user)
        client.get("/")  # warm up imports and connections
        web_process_state()

        slug = projects[0].slug
        results = {
            "overview page": time_requests(client, "/", args.requests),
            "project page": time_requests(client, f"/projects/{slug}/", args.requests),
        }
        overview_charts = ["energy-trend", "carbon-trend", "cost-trend", "coverage"] + [
            "carbon-by-team",
            "carbon-by-phase",
            "carbon-by-site",
            "top-projects",
        ]
        assert set(overview_charts) <= set(CHARTS)
        for name in overview_charts:
            results[f"overview chart {name}"] = time_requests(
                client, f"/charts/{name}.json", args.requests
            )
        for name in PROJECT_CHARTS:
            results[f"project chart {name}"] = time_requests(
                client, f"/projects/{slug}/charts/{name}.json", args.requests
            )
        summary = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.node()} ({os.cpu_count()} CPUs, {platform.machine()})",
            "gpus": args.gpus,
            "days": args.days,
            "hourly_device_facts": HourlyDeviceFact.objects.count(),
            "fill_seconds": fill_seconds and round(fill_seconds, 1),
            "daily_refresh_year_seconds": refresh_seconds and round(refresh_seconds, 1),
            "daily_refresh_one_day_seconds": round(one_day_seconds, 2),
            "in_service_rows_seconds": round(in_service_seconds, 2),
            "requests_each": args.requests,
            "results": results,
            "worst_p95_ms": max(r["p95_ms"] for r in results.values()),
        }
        print(json.dumps(summary, indent=2))
        print(
            f"pages: overview p95 {results['overview page']['p95_ms']} ms, project p95 "
            f"{results['project page']['p95_ms']} ms, slowest chart endpoint p95 "
            f"{summary['worst_p95_ms']} ms overall; target p95 < 200 ms: "
            f"{'met' if summary['worst_p95_ms'] < 200 else 'NOT met'}"
        )
    finally:
        if not args.keep:
            drop_database(args.server, DB_NAME)


if __name__ == "__main__":
    main()
