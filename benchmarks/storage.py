"""Raw-sample storage on PostgreSQL: bytes per row and per GPU-day, and the cost of retention.

    .venv/bin/python benchmarks/storage.py [--gpus 100] [--samples 1000] [--server URL]

Creates its own database (greenai_bench_storage), stores gpus x samples raw samples of 10 s
through the real ingest service (ingest_batch: COPY, the day partitions, the rollup's marks),
one batch per host and minute (8 GPUs), a quarter of the GPUs tagged. Then:

- bytes per raw row: pg_total_relation_size (table, indexes, TOAST) summed over the partitions
  of collectors_rawsample, divided by the rows; per GPU-day at 10 s samples (8,640 rows) and,
  for comparison, at 1 Hz (86,400 rows);
- the time retention takes to drop those rows' day, and that it deletes no row one by one.

The database is dropped afterwards.
"""

import argparse
import os
import platform
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_db import drop_database, recreate_database

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "greenai_bench_storage"
GPUS_PER_HOST = 8
SAMPLE_S = 10.0
BATCH_SECONDS = 60  # one push per host and minute


def _default_server() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url.rsplit("/", 1)[0]
    return "postgres://postgres@127.0.0.1:5432"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=100)
    parser.add_argument("--samples", type=int, default=1000, help="10 s samples per GPU")
    parser.add_argument("--server", default=_default_server())
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


def store(gpus: int, samples: int, day_start: datetime) -> tuple[int, float]:
    from collectors.services import collector_create, ingest_batch

    collector, _ = collector_create(name="bench")
    per_batch = int(BATCH_SECONDS / SAMPLE_S)
    stored = 0
    started = time.perf_counter()
    for host in range((gpus + GPUS_PER_HOST - 1) // GPUS_PER_HOST):
        uuids = [
            f"GPU-bench-{host:04d}-{n}"
            for n in range(GPUS_PER_HOST)
            if host * GPUS_PER_HOST + n < gpus
        ]
        devices = [
            {"uuid": u, "index": n, "name": "Bench GPU", "power_limit_w": 700.0}
            for n, u in enumerate(uuids)
        ]
        for first in range(0, samples, per_batch):
            batch = []
            for n, device_uuid in enumerate(uuids):
                tags = [{"project": "p0", "share": 0.7}] if n % 4 == 0 else None
                for s in range(first, min(first + per_batch, samples)):
                    watts = 250.0 + (s % 10) + 10 * n
                    sample = {
                        "device": device_uuid,
                        "ts": (day_start + timedelta(seconds=SAMPLE_S * (s + 1))).isoformat(),
                        "duration_s": SAMPLE_S,
                        "energy_j": watts * SAMPLE_S,
                        "power_w": watts,
                        "util_pct": 80.0,
                        "mem_used_mib": 40000.0,
                    }
                    if tags:
                        sample["tags"] = tags
                    batch.append(sample)
            payload = {
                "batch_id": str(uuid.uuid4()),
                "host": {"hostname": f"bench-{host:04d}", "agent_version": "bench"},
                "devices": devices,
                "samples": batch,
            }
            stored += ingest_batch(collector=collector, payload=payload).accepted
    return stored, time.perf_counter() - started


def raw_sample_bytes() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE collectors_rawsample")
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i "
            "WHERE i.inhparent = 'collectors_rawsample'::regclass"
        )
        return int(cursor.fetchone()[0])


def main():
    args = parse_args()
    recreate_database(args.server, DB_NAME)
    setup_django(args.server)
    try:
        from django.utils import timezone

        from collectors import partitions
        from collectors.models import DirtyHour, RawSample
        from collectors.services import raw_samples_delete_old

        # A day inside retention: its partition exists (made at migrate time).
        day_start = (timezone.now() - timedelta(days=3)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        empty = raw_sample_bytes()
        rows, seconds = store(args.gpus, args.samples, day_start)
        assert rows == RawSample.objects.count() == args.gpus * args.samples, rows
        total = raw_sample_bytes() - empty
        per_row = total / rows
        day = day_start.astimezone(UTC).date()
        DirtyHour.objects.all().delete()  # as if rolled up
        started = time.perf_counter()
        result = raw_samples_delete_old(now=day_start + timedelta(days=40), retention_days=30)
        drop_s = time.perf_counter() - started
        assert day in result.dropped_days and result.deleted == 0, result
        assert day not in partitions.day_partitions()
        print(f"host: {platform.node()} ({os.cpu_count()} CPUs), PostgreSQL partitioned by day")
        print(
            f"stored {rows:,} samples of {args.gpus} GPUs through ingest_batch in {seconds:.1f} s"
        )
        print(f"raw samples: {total / 1e6:.1f} MB incl. indexes: {per_row:.0f} bytes per row")
        print(
            f"per GPU-day: {per_row * 8640 / 1e6:.2f} MB at 10 s samples "
            f"({per_row * 86400 / 1e6:.1f} MB at 1 Hz); "
            f"1,000 GPUs x 35 days at 10 s: {per_row * 8640 * 1000 * 35 / 1e9:.0f} GB"
        )
        print(
            f"retention: {len(result.dropped_days)} day partitions dropped in "
            f"{drop_s * 1000:.0f} ms (about {result.dropped_rows_estimate:,} rows), "
            f"{result.deleted} rows deleted one by one"
        )
    finally:
        if not args.keep:
            drop_database(args.server, DB_NAME)


if __name__ == "__main__":
    main()
