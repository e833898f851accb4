"""Rollup throughput on PostgreSQL: 1,000 GPUs x 1 hour at 1 Hz, raw samples to hourly facts.

    .venv/bin/python benchmarks/rollup.py [--gpus 1000] [--server postgres://USER@HOST:PORT]

Creates its own database (greenai_bench_rollup), loads 3.6 million raw samples with COPY (a
quarter of the GPUs tagged 70/30 between two projects, half of the hosts under an allocation
that ends mid-hour, the rest unallocated), marks every (device, hour) dirty, and times
`assessments.footprint.rollup.rollup_dirty_hours` until no dirty hour is left. Target: under 10 s.
The database is dropped afterwards.
"""

import argparse
import io
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_db import drop_database, recreate_database

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "greenai_bench_rollup"
HOUR_START = datetime(2026, 11, 2, 10, tzinfo=UTC)
GPUS_PER_HOST = 8


def _default_server() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url.rsplit("/", 1)[0]
    return "postgres://postgres@127.0.0.1:5432"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=1000)
    parser.add_argument(
        "--server",
        default=_default_server(),
        help="PostgreSQL server URL without a database (default: from DATABASE_URL)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=500, help="device-hours per batch (the task's default)"
    )
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    return parser.parse_args()


def setup_django(server: str) -> None:
    os.environ["DATABASE_URL"] = f"{server}/{DB_NAME}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "greenai_site.settings")
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ["CACHE_URL"] = "locmem://"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_inventory(gpus: int):
    from assessments.models import Allocation, GridZone, HardwareModel, Project, Site, Team
    from collectors.models import Device, Host

    GridZone.objects.update_or_create(
        code="BENCH", defaults={"name": "bench", "gco2e_per_kwh": 400, "source": "bench"}
    )
    site = Site.objects.create(name="bench", grid_zone="BENCH", pue=1.3, energy_price_per_kwh=0.2)
    model = HardwareModel.objects.create(
        kind="gpu", name="Bench GPU", embodied_kgco2e=150, lifetime_years=4, source="bench"
    )
    team = Team.objects.create(name="Bench", slug="bench")
    projects = [Project.objects.create(slug=f"p{n}", name=f"P{n}", team=team) for n in range(3)]
    hosts = [
        Host.objects.create(
            hostname=f"bench-{n:04d}", site=site, embodied_kgco2e=2500, lifetime_years=4
        )
        for n in range((gpus + GPUS_PER_HOST - 1) // GPUS_PER_HOST)
    ]
    devices = Device.objects.bulk_create(
        [
            Device(
                uuid=f"GPU-bench-{n:06d}",
                host=hosts[n // GPUS_PER_HOST],
                index=n % GPUS_PER_HOST,
                name="Bench GPU",
                gpu_model_override=model,
                first_seen_at=HOUR_START - timedelta(days=1),
            )
            for n in range(gpus)
        ]
    )
    for host in hosts[::2]:
        Allocation.objects.create(
            project=projects[2],
            host=host,
            start=HOUR_START - timedelta(days=1),
            end=HOUR_START + timedelta(minutes=40),
        )
    return devices


def copy_samples(devices) -> int:
    """3600 one-second samples per device through COPY; returns the number of rows."""
    from django.db import connection

    start_s = HOUR_START.timestamp()
    tags = json.dumps([{"project": "p0", "share": 0.7}, {"project": "p1", "share": 0.3}]).replace(
        "\\", "\\\\"
    )
    stamps = [
        datetime.fromtimestamp(start_s + s + 1, UTC).strftime("%Y-%m-%d %H:%M:%S+00")
        for s in range(3600)
    ]
    rows = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor, for COPY
        columns = "device_id, ts, duration_s, energy_j, power_w, util_pct, tags"
        with raw.copy(f"COPY collectors_rawsample ({columns}) FROM STDIN") as copy:
            for n, device in enumerate(devices):
                tag = tags if n % 4 == 0 else "\\N"
                power = 250 + (n % 7) * 50
                buffer = io.StringIO()
                for s, stamp in enumerate(stamps):
                    watts = power + (s % 10)
                    buffer.write(f"{device.pk}\t{stamp}\t1\t{watts}\t{watts}\t80\t{tag}\n")
                copy.write(buffer.getvalue())
                rows += len(stamps)
        cursor.execute("ANALYZE collectors_rawsample")
    return rows


def mark_all_dirty(devices) -> None:
    from collectors.models import DirtyHour

    # Marks are append-only (a recompute request: no batch), one per device-hour here.
    DirtyHour.objects.bulk_create([DirtyHour(device=d, hour=HOUR_START) for d in devices])


def main() -> None:
    args = parse_args()
    recreate_database(args.server, DB_NAME)
    try:
        setup_django(args.server)
        from assessments.footprint.rollup import rollup_dirty_hours
        from assessments.models import HourlyDeviceFact, HourlyProjectFact
        from collectors.models import DirtyHour

        devices = make_inventory(args.gpus)
        loading = time.perf_counter()
        rows = copy_samples(devices)
        load_s = time.perf_counter() - loading
        mark_all_dirty(devices)

        started = time.perf_counter()
        result = rollup_dirty_hours(batch_size=args.batch_size)
        elapsed = time.perf_counter() - started

        assert DirtyHour.objects.count() == 0
        # The same again: the samples' pages are now cached and their hint bits set, as for the
        # rollup that runs every minute on the current hour.
        mark_all_dirty(devices)
        started = time.perf_counter()
        rollup_dirty_hours(batch_size=args.batch_size)
        warm = time.perf_counter() - started
        device_facts = HourlyDeviceFact.objects.count()
        project_facts = HourlyProjectFact.objects.count()
        print(
            f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.node()} "
            f"({os.cpu_count()} CPUs, {platform.processor() or platform.machine()})"
        )
        print(f"raw samples loaded with COPY: {rows:,} in {load_s:.1f} s")
        print(
            f"rollup: {result.hours:,} device-hours, {device_facts:,} device facts, "
            f"{project_facts:,} project facts, {result.batches} batch(es)"
        )
        print(
            f"rollup time, raw to hourly facts: {elapsed:.2f} s first run (freshly loaded "
            f"rows), {warm:.2f} s again ({rows / warm:,.0f} samples/s); target < 10 s: "
            f"{'met' if elapsed < 10 else 'NOT met'}"
        )
    finally:
        if not args.keep:
            drop_database(args.server, DB_NAME)


if __name__ == "__main__":
    main()
