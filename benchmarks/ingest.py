"""Ingest throughput on PostgreSQL: raw COPY (the limit), end to end over HTTP, bulk_create.

    .venv/bin/python benchmarks/ingest.py [--samples 200000] [--workers 3] [--clients 4] [--runs 3]

Creates its own database (greenai_bench on the server of BENCH_POSTGRES_URL, default
postgres://postgres@127.0.0.1:5432/postgres), migrates it, measures, and drops it afterwards.

- raw COPY: the same rows COPYed straight into collectors_rawsample, one COPY per 1000 rows and
  one transaction each, as fast as psycopg 3 can; no validation, no dedupe. The upper bound.
- end to end: gunicorn (--workers) serving the app; --clients threads POST 1000-sample batches
  (JSON bodies encoded before the clock starts: encoding is the agent's work, on its machine);
  every batch is authenticated, rate-limited, validated, COPYed, deduplicated and marks dirty
  hours, exactly as in production. The workers keep their database connections
  (DB_CONN_MAX_AGE=600, as docs/ingest.md recommends for production); the rate limit is raised
  out of the way.
- bulk_create: Django's RawSample.objects.bulk_create, 1000 rows per call and transaction.

The three run in interleaved rounds (--runs, default 3) and the best of each is shown, with every
round's figure, so that other work on a shared machine distorts the ratio less. Every run prints
the rates in samples per second and the end-to-end share of raw COPY.
"""

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "greenai_bench"
BATCH = 1000
DEVICES = 8


def server_url(database: str) -> str:
    base = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{database}"))


def recreate_database():
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")


def drop_database():
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_batches(device_uuids: list[str], total: int, start: datetime) -> list[dict]:
    """1000-sample batches: each device one sample per second, tagged like a training job."""
    batches = []
    per_device = BATCH // len(device_uuids)
    second = 0
    while len(batches) * BATCH < total:
        samples = []
        for i in range(per_device):
            ts = (start + timedelta(seconds=second + i + 1)).isoformat().replace("+00:00", "Z")
            for index, device_uuid in enumerate(device_uuids):
                samples.append(
                    {
                        "device": device_uuid,
                        "ts": ts,
                        "duration_s": 1.0,
                        "energy_j": 300.0 + index + i % 50,
                        "power_w": 300.0 + index + i % 50,
                        "util_pct": 80 + i % 20,
                        "mem_used_mib": 40960,
                        "tags": [{"project": "llm-finetune", "phase": "training", "share": 1.0}],
                    }
                )
        second += per_device
        batches.append(
            {
                "batch_id": str(uuid.uuid4()),
                "host": {"hostname": "bench-node-01", "agent_version": "bench"},
                "devices": [
                    {"uuid": u, "kind": "gpu", "index": n, "name": "NVIDIA H100 80GB HBM3"}
                    for n, u in enumerate(device_uuids)
                ],
                "samples": samples,
            }
        )
    return batches


def sample_rows(batches: list[dict], device_ids: dict[str, int]) -> list[tuple]:
    from collectors.schemas import parse_timestamp

    return [
        (
            device_ids[s["device"]],
            parse_timestamp(s["ts"]),
            s["duration_s"],
            s["energy_j"],
            s["power_w"],
            s["util_pct"],
            s["mem_used_mib"],
            json.dumps(s["tags"]),
        )
        for batch in batches
        for s in batch["samples"]
    ]


def truncate_samples():
    with psycopg.connect(server_url(BENCH_DB), autocommit=True) as conn:
        conn.execute("TRUNCATE collectors_rawsample, collectors_dirtyhour, collectors_ingestbatch")


def bench_raw_copy(rows: list[tuple]) -> float:
    columns = "device_id, ts, duration_s, energy_j, power_w, util_pct, mem_used_mib, tags"
    with psycopg.connect(server_url(BENCH_DB)) as conn:
        started = time.perf_counter()
        for offset in range(0, len(rows), BATCH):
            with conn.cursor() as cursor:
                with cursor.copy(f"COPY collectors_rawsample ({columns}) FROM STDIN") as copy:
                    for row in rows[offset : offset + BATCH]:
                        copy.write_row(row)
            conn.commit()
        elapsed = time.perf_counter() - started
    return len(rows) / elapsed


def bench_bulk_create(rows: list[tuple]) -> float:
    from django.db import transaction

    from collectors.models import RawSample

    started = time.perf_counter()
    for offset in range(0, len(rows), BATCH):
        with transaction.atomic():
            RawSample.objects.bulk_create(
                [
                    RawSample(
                        device_id=r[0],
                        ts=r[1],
                        duration_s=r[2],
                        energy_j=r[3],
                        power_w=r[4],
                        util_pct=r[5],
                        mem_used_mib=r[6],
                        tags=json.loads(r[7]),
                    )
                    for r in rows[offset : offset + BATCH]
                ]
            )
    return len(rows) / (time.perf_counter() - started)


def start_gunicorn(workers: int, port: int, log_path: Path) -> subprocess.Popen:
    env = os.environ.copy()
    env.update(
        DATABASE_URL=server_url(BENCH_DB),
        INGEST_RATE_LIMIT_PER_MINUTE="100000000",  # measuring throughput, not the limiter
        DB_CONN_MAX_AGE="600",
        LOG_LEVEL="WARNING",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "greenai_site.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=env,
        stdout=open(log_path, "wb"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early; see {log_path}")
        try:
            requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
            return process
        except requests.RequestException:
            time.sleep(0.2)
    stop_gunicorn(process)
    raise RuntimeError(f"gunicorn did not answer; see {log_path}")


def stop_gunicorn(process: subprocess.Popen):
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


def bench_http(bodies: list[bytes], url: str, token: str, clients: int) -> tuple[float, int]:
    """Samples stored per second with `clients` threads posting the bodies; (rate, stored)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    accepted = []
    failures = []
    lock = threading.Lock()
    queue = list(reversed(bodies))

    def client():
        session = requests.Session()
        while True:
            with lock:
                if not queue or failures:
                    return
                body = queue.pop()
            response = session.post(url, data=body, headers=headers, timeout=120)
            if response.status_code != 202:
                failures.append(f"{response.status_code} {response.text[:200]}")
                return
            accepted.append(response.json()["accepted"])

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"ingest failed: {failures[0]}")
    return sum(accepted) / elapsed, sum(accepted)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument(
        "--runs", type=int, default=3, help="rounds of all three; the best of each is shown"
    )
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    recreate_database()
    os.environ["DATABASE_URL"] = server_url(BENCH_DB)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "greenai_site.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    server = None
    try:
        call_command("migrate", verbosity=0)
        from collectors.models import Device
        from collectors.services import batch_ingest, collector_create

        collector, token = collector_create(name="bench", allow_backfill=True)
        device_uuids = [f"GPU-bench-{n:04d}" for n in range(DEVICES)]
        start = datetime(2026, 11, 1, tzinfo=UTC)
        batches = make_batches(device_uuids, args.samples, start)
        total = sum(len(b["samples"]) for b in batches)
        # Register the devices once (through the service, as the first batch would).
        batch_ingest(collector=collector, payload={**batches[0], "samples": []})
        device_ids = dict(Device.objects.values_list("uuid", "id"))
        rows = sample_rows(batches, device_ids)
        bodies = [json.dumps(batch).encode() for batch in batches]

        port = free_port()
        log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-gunicorn-{port}.log"
        server = start_gunicorn(args.workers, port, log_path)
        for _ in range(args.workers * 2):  # imports and connections warm before the clock
            requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30)

        copy_rates, bulk_rates, http_rates = [], [], []
        for _ in range(args.runs):
            # Rounds interleave the three, so that other work on the machine hits them alike.
            truncate_samples()
            copy_rates.append(bench_raw_copy(rows))
            truncate_samples()
            bulk_rates.append(bench_bulk_create(rows))
            truncate_samples()
            connections.close_all()
            rate, stored = bench_http(
                bodies, f"http://127.0.0.1:{port}/api/v1/ingest", token, args.clients
            )
            if stored != total:
                raise RuntimeError(f"stored {stored} of {total} samples")
            http_rates.append(rate)

        copy_rate, bulk_rate, http_rate = max(copy_rates), max(bulk_rates), max(http_rates)
        ratio = http_rate / copy_rate

        def each(rates):
            return " / ".join(f"{rate:,.0f}" for rate in rates)

        print(f"GreenAI ingest benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        print(f"load average before the run: {load_before:.1f} (other work slows every figure)")
        print(
            f"machine: {platform.node()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, PostgreSQL {server_version()}"
        )
        print(
            f"{total} samples, {DEVICES} devices, {BATCH}-sample batches; "
            f"gunicorn {args.workers} workers (DB_CONN_MAX_AGE=600), {args.clients} client "
            f"threads; best of {args.runs} rounds"
        )
        print(f"raw COPY into collectors_rawsample : {copy_rate:10,.0f} samples/s (the limit)")
        print(f"end to end over HTTP (POST ingest) : {http_rate:10,.0f} samples/s")
        print(f"end to end / raw COPY              : {ratio:10.0%}")
        print(f"Django bulk_create                 : {bulk_rate:10,.0f} samples/s")
        print(
            "targets: end to end >= 20,000 samples/s "
            f"[{'met' if http_rate >= 20_000 else 'NOT met'}], "
            f">= 25% of raw COPY [{'met' if ratio >= 0.25 else 'NOT met'}]"
        )
        print(
            f"each round (samples/s): raw COPY {each(copy_rates)}; end to end "
            f"{each(http_rates)}; bulk_create {each(bulk_rates)}"
        )
    finally:
        if server is not None:
            stop_gunicorn(server)
        connections.close_all()
        if not args.keep_database:
            drop_database()


def server_version() -> str:
    with psycopg.connect(server_url("postgres")) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


if __name__ == "__main__":
    main()
