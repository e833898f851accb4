"""Fleet benchmark: N simulated GPUs pushing to the real app, a Celery worker with beat, PostgreSQL.

    .venv/bin/python benchmarks/fleet.py [--gpus 5000] [--minutes 10] [--workers 1,2]
        [--gpus-per-host 8] [--web-workers 4] [--find-max]

For each worker count in --workers (a phase each, in one invocation) it creates its own database
(greenai_bench_fleet on the server of BENCH_POSTGRES_URL), migrates it, and starts:

- gunicorn serving the app (--web-workers processes, the app's default settings otherwise);
- Celery workers on the Redis of BENCH_REDIS_URL: the first with beat (-B), the others plain, one
  process each, as if on separate machines; beat runs the rollup every --rollup-every seconds;
- in this process, the fleet: one host per --gpus-per-host GPUs, each like an agent with 10 s
  samples: one batch per host every 10 s (one sample per GPU: energy, mean power, utilisation,
  memory, tags naming the benchmark's projects), gzip bodies, POST /api/v1/ingest with the token
  of its cluster's collector (a collector per 50 hosts, so that the default rate limit of 600
  requests a minute per token holds). Each host keeps its unsent batches in a bounded in-memory
  spool and sends them oldest first at its next push, as the agent does; a spool that grows means
  the server is falling behind, and batches dropped from a full spool are counted.

Across an hour boundary without waiting for one: sample timestamps are the wall clock shifted
into the recent past (less than an hour) so that the simulated clock crosses a full hour in the
middle of the run. Before the clock starts, the hour before that boundary is filled up to the
start of the run through the same API (bigger batches) and rolled up once (`manage.py rollup`,
timed), so the last minutes of the hour cost the rollup what they cost in production.

Every minute it prints: ingest requests, p50/p99 latency, samples accepted per second, rollup
runs finished, skipped and their duration (from the workers' Celery log), the rollup lag (age of
the oldest dirty mark in the database, and the lag gauge on /metrics where the app exposes one),
raw rows and bytes stored (pg_total_relation_size over every partition), and the spools'
backlog. At the end: raw rows per GPU-hour, bytes per row and per GPU-day, and whether the phase
kept up (rollup lag under 2 minutes, spools flat, no batch dropped or refused).

--find-max steps the fleet size up in short runs (--find-max-minutes each, with the largest
worker count of --workers) and reports the largest N that kept up. Databases and every process
started are removed at the end, also on Ctrl-C.
"""

import argparse
import gzip
import heapq
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "greenai_bench_fleet"
SAMPLE_SECONDS = 10
PUSH_EVERY = 10
HOSTS_PER_COLLECTOR = 50
MAX_LAG_S = 120
PROJECTS = ["llm-pretrain", "llm-finetune", "vision-train", "search-ranking", "speech-asr"]
GPU_NAME = "NVIDIA H100 80GB HBM3"
POWER_LIMIT_W = 700.0
# The Celery worker's log line for a finished task (Celery's own format, whatever the task).
TASK_DONE = re.compile(r"Task (\S+)\[[^\]]+\] (succeeded|raised|failed)[^0-9]*([\d.]+)s?:? ?(.*)")


def server_url(database: str) -> str:
    base = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{database}"))


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


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


def iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the simulated fleet ----------------------------------------------------------------------


class Gpu:
    """One GPU's workload: training (high steady power), inference (bursty) or idle."""

    def __init__(self, uuid_: str, index: int, rng: random.Random, tags: list[dict]):
        self.uuid = uuid_
        self.index = index
        self.rng = rng
        self.job_tags = tags
        self.state = rng.choices(["train", "infer", "idle"], weights=[70, 15, 15])[0]
        self.level = rng.uniform(0.75, 0.95)

    def sample(self, ts: float) -> dict:
        rng = self.rng
        if rng.random() < SAMPLE_SECONDS / 1800:  # a job starts or ends about every half hour
            self.state = rng.choices(["train", "infer", "idle"], weights=[70, 15, 15])[0]
            self.level = rng.uniform(0.75, 0.95)
        if self.state == "train":
            power = POWER_LIMIT_W * self.level * rng.uniform(0.95, 1.03)
            util, mem, tags = rng.uniform(85, 100), rng.uniform(60_000, 78_000), self.job_tags
        elif self.state == "infer":
            power = rng.uniform(180, 420)
            util, mem, tags = rng.uniform(20, 70), rng.uniform(20_000, 40_000), self.job_tags
        else:
            power, util, mem, tags = rng.uniform(60, 80), 0.0, 500.0, []
        power = min(power, POWER_LIMIT_W)
        return {
            "device": self.uuid,
            "ts": iso(ts),
            "duration_s": float(SAMPLE_SECONDS),
            "energy_j": round(power * SAMPLE_SECONDS, 1),
            "power_w": round(power, 1),
            "util_pct": round(util, 1),
            "mem_used_mib": round(mem),
            "tags": tags,
        }


@dataclass
class Host:
    hostname: str
    token: str
    offset_s: float  # where in the 10 s cycle this host pushes
    gpus: list[Gpu]
    spool: deque = field(default_factory=deque)
    in_flight: bool = False
    retry_at: float = 0.0

    def batch(self, samples: list[dict]) -> dict:
        return {
            "batch_id": str(uuid.uuid4()),
            "host": {"hostname": self.hostname, "agent_version": "fleet-bench"},
            "devices": [
                {
                    "uuid": gpu.uuid,
                    "kind": "gpu",
                    "index": gpu.index,
                    "name": GPU_NAME,
                    "power_limit_w": POWER_LIMIT_W,
                }
                for gpu in self.gpus
            ],
            "samples": samples,
        }


def make_fleet(gpus: int, per_host: int, tokens: list[str], seed: int = 1) -> list[Host]:
    rng = random.Random(seed)
    hosts = []
    for h in range(math.ceil(gpus / per_host)):
        project = PROJECTS[h % len(PROJECTS)]
        if h % 4 == 3:  # a quarter of the hosts share their jobs between two projects
            other = PROJECTS[(h + 1) % len(PROJECTS)]
            tags = [
                {"project": project, "phase": "training", "share": 0.7},
                {"project": other, "phase": "inference", "share": 0.3},
            ]
        else:
            tags = [{"project": project, "phase": "training", "share": 1.0}]
        count = min(per_host, gpus - h * per_host)
        hostname = f"fleet-{h:05d}"
        host_gpus = [
            Gpu(f"GPU-{uuid.UUID(int=rng.getrandbits(128))}", i, random.Random(rng.random()), tags)
            for i in range(count)
        ]
        hosts.append(
            Host(
                hostname=hostname,
                token=tokens[h // HOSTS_PER_COLLECTOR],
                offset_s=rng.uniform(0, PUSH_EVERY),
                gpus=host_gpus,
            )
        )
    return hosts


@dataclass
class Minute:
    requests: int = 0
    latencies: list = field(default_factory=list)
    accepted: int = 0
    errors: dict = field(default_factory=dict)
    dropped: int = 0


class Fleet:
    """Generates each host's batch every 10 s into its spool; sender threads drain the spools."""

    def __init__(self, hosts: list[Host], url: str, shift_s: float, spool_max: int, senders: int):
        self.hosts = hosts
        self.url = url
        self.shift_s = shift_s
        self.spool_max = spool_max
        self.lock = threading.Lock()
        self.ready: deque[Host] = deque()
        self.wake = threading.Condition(self.lock)
        self.stop_event = threading.Event()
        self.current = Minute()
        self.threads = [threading.Thread(target=self._scheduler, daemon=True)] + [
            threading.Thread(target=self._sender, daemon=True) for _ in range(senders)
        ]

    def start(self, started: float):
        self.started = started
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.stop_event.set()
        with self.lock:
            self.wake.notify_all()
        for thread in self.threads:
            thread.join(35)

    def take_minute(self) -> Minute:
        with self.lock:
            minute, self.current = self.current, Minute()
        return minute

    def backlog(self) -> tuple[int, int]:
        """(batches waiting in all spools, largest spool)."""
        with self.lock:
            sizes = [len(host.spool) for host in self.hosts]
        return sum(sizes), max(sizes, default=0)

    def _scheduler(self):
        queue = [
            (self.started + host.offset_s + PUSH_EVERY, n) for n, host in enumerate(self.hosts)
        ]
        heapq.heapify(queue)
        while not self.stop_event.is_set():
            due, n = queue[0]
            delay = due - time.time()
            if delay > 0:
                self.stop_event.wait(min(delay, 0.5))
                continue
            heapq.heapreplace(queue, (due + PUSH_EVERY, n))
            host = self.hosts[n]
            ts = due - self.shift_s
            body = gzip.compress(
                json.dumps(host.batch([gpu.sample(ts) for gpu in host.gpus])).encode(), 5
            )
            with self.lock:
                if len(host.spool) >= self.spool_max:
                    host.spool.popleft()
                    self.current.dropped += 1
                host.spool.append(body)
                if not host.in_flight and host.retry_at <= time.time():
                    host.in_flight = True
                    self.ready.append(host)
                    self.wake.notify()

    def _sender(self):
        session = requests.Session()
        while True:
            with self.lock:
                while not self.ready and not self.stop_event.is_set():
                    self.wake.wait(0.5)
                if self.stop_event.is_set():
                    return
                host = self.ready.popleft()
            self._drain(session, host)

    def _drain(self, session: requests.Session, host: Host):
        while not self.stop_event.is_set():
            with self.lock:
                if not host.spool:
                    host.in_flight = False
                    return
                body = host.spool[0]
            started = time.perf_counter()
            status, accepted, retry = self._post(session, host, body)
            elapsed = time.perf_counter() - started
            with self.lock:
                minute = self.current
                minute.requests += 1
                minute.latencies.append(elapsed)
                if status in (200, 202):
                    minute.accepted += accepted
                    if host.spool and host.spool[0] is body:
                        host.spool.popleft()
                    continue
                minute.errors[status] = minute.errors.get(status, 0) + 1
                if not retry:  # refused for good, as the agent drops a 4xx batch
                    if host.spool and host.spool[0] is body:
                        host.spool.popleft()
                    continue
                # Busy or down: the batch stays spooled for the host's next push.
                host.retry_at = time.time() + PUSH_EVERY / 2
                host.in_flight = False
                return
        with self.lock:
            host.in_flight = False

    def _post(self, session, host: Host, body: bytes) -> tuple[object, int, bool]:
        try:
            response = session.post(
                self.url,
                data=body,
                headers={
                    "Authorization": f"Bearer {host.token}",
                    "Content-Type": "application/json",
                    "Content-Encoding": "gzip",
                },
                timeout=30,
            )
        except requests.RequestException as error:
            return type(error).__name__, 0, True
        if response.status_code in (200, 202):
            return response.status_code, response.json().get("accepted", 0), False
        retry = response.status_code in (429, 502, 503, 504) or response.status_code >= 500
        return response.status_code, 0, retry


# --- services -----------------------------------------------------------------------------------


class Services:
    """gunicorn and Celery workers, each in its own session so that all of it can be stopped."""

    def __init__(self, workdir: Path, env: dict):
        self.workdir = workdir
        self.env = env
        self.processes: list[subprocess.Popen] = []

    def spawn(self, name: str, args: list[str]) -> tuple[subprocess.Popen, Path]:
        log = self.workdir / f"{name}.log"
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=open(log, "wb"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process, log

    def gunicorn(self, workers: int, port: int) -> Path:
        process, log = self.spawn(
            "web",
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
                "--backlog",
                "4096",
                "--no-control-socket",
            ],
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early; see {log}")
            try:
                requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
                return log
            except requests.RequestException:
                time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer; see {log}")

    def celery_workers(self, count: int) -> list[Path]:
        logs = []
        for n in range(count):
            args = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "greenai_site",
                "worker",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"fleet{n}@%h",
            ]
            if n == 0:
                args.insert(args.index("worker") + 1, "-B")
            logs.append(self.spawn(f"worker{n}", args)[1])
        return logs

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 30
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:  # whatever is left of the session (a pool child, beat) goes too
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        self.processes = []


class TaskLog:
    """Rollup tasks finished, read from the Celery workers' logs as they grow."""

    def __init__(self, paths: list[Path]):
        self.offsets = dict.fromkeys(paths, 0)

    def read(self) -> tuple[int, list[tuple[str, str, float, str]]]:
        """Rollup ticks beat sent, and (task, outcome, seconds, result) of rollup tasks ended."""
        ticks = 0
        done = []
        for path, offset in self.offsets.items():
            try:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    data = handle.read()
            except FileNotFoundError:
                continue
            end = data.rfind(b"\n") + 1
            self.offsets[path] = offset + end
            for line in data[:end].decode(errors="replace").splitlines():
                if "Sending due task" in line and "rollup" in line:
                    ticks += 1
                match = TASK_DONE.search(line)
                if match and "rollup" in match.group(1):
                    done.append(
                        (match.group(1), match.group(2), float(match.group(3)), match.group(4))
                    )
        return ticks, done


# --- what the database and /metrics say ---------------------------------------------------


class Probe:
    def __init__(self, metrics_url: str):
        self.conn = psycopg.connect(server_url(BENCH_DB), autocommit=True)
        self.metrics_url = metrics_url
        self.partitioned = self.conn.execute(
            "SELECT relkind = 'p' FROM pg_class WHERE relname = 'collectors_rawsample'"
        ).fetchone()[0]

    def close(self):
        self.conn.close()

    def raw(self) -> tuple[int, int]:
        """(rows, bytes with indexes and TOAST) of the raw samples, over every partition."""
        rows = self.conn.execute("SELECT count(*) FROM collectors_rawsample").fetchone()[0]
        if self.partitioned:
            size = self.conn.execute(
                "SELECT coalesce(sum(pg_total_relation_size(relid)), 0)"
                " FROM pg_partition_tree('collectors_rawsample')"
            ).fetchone()[0]
        else:
            size = self.conn.execute(
                "SELECT pg_total_relation_size('collectors_rawsample')"
            ).fetchone()[0]
        return rows, int(size)

    def span(self) -> float:
        """Seconds of simulated time the stored samples cover."""
        first, last = self.conn.execute(
            "SELECT min(ts - make_interval(secs => duration_s)), max(ts) FROM collectors_rawsample"
        ).fetchone()
        return (last - first).total_seconds() if first else 0.0

    def dirty(self) -> tuple[int, float]:
        """(dirty marks, age in seconds of the oldest one) from collectors_dirtyhour."""
        count, age = self.conn.execute(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(marked_at)), 0)"
            " FROM collectors_dirtyhour"
        ).fetchone()
        return count, float(age)

    def metrics_lag(self) -> float | None:
        """The app's own rollup lag gauge, where /metrics has one."""
        try:
            text = requests.get(self.metrics_url, timeout=10).text
        except requests.RequestException:
            return None
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            name = line.split("{")[0].split(" ")[0]
            if name.startswith("greenai_rollup") and "lag" in name:
                try:
                    return float(line.rsplit(" ", 1)[1])
                except ValueError:
                    return None
        return None


# --- one phase ------------------------------------------------------------------------------


@dataclass
class Phase:
    workers: int
    gpus: int
    gpus_per_host: int
    minutes: float
    rows: list = field(default_factory=list)
    prefill_samples: int = 0
    prefill_rollup: str = ""
    prefill_rollup_s: float = 0.0
    hour_boundary: str = ""
    summary: dict = field(default_factory=dict)
    load: list = field(default_factory=list)
    kept_up: bool = False
    failures: list = field(default_factory=list)


def setup_organisation(gpus: int, per_host: int) -> list[str]:
    """Migrate, create the projects the tags name and a collector per 50 hosts; the tokens."""
    os.environ["DATABASE_URL"] = server_url(BENCH_DB)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "greenai_site.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    import inspect

    from assessments.models import Project, Team
    from collectors.services import collector_create

    team = Team.objects.create(name="Fleet", slug="fleet")
    for slug in PROJECTS:
        Project.objects.create(slug=slug, name=slug, team=team)
    hosts = math.ceil(gpus / per_host)
    extra = {}
    if "allow_backfill" in inspect.signature(collector_create).parameters:
        extra["allow_backfill"] = True  # the prefill reaches back up to an hour
    tokens = [
        collector_create(name=f"fleet-cluster-{n:03d}", **extra)[1]
        for n in range(math.ceil(hosts / HOSTS_PER_COLLECTOR))
    ]
    connections.close_all()
    return tokens


def prefill(hosts: list[Host], url: str, first_ts: dict[str, float], hour_start: float) -> int:
    """The hour before the boundary, up to each host's first sample of the run.

    Each host's first sample goes through the API (registering the host and its devices as an
    agent would); the rest is COPYed straight into the raw samples, as quickly as the database
    takes it, because pushing an hour of a large fleet through HTTP would take longer than the
    run. `manage.py rollup --start --end` then rolls that hour up.
    """
    plan = []
    for host in hosts:
        stamps = []
        ts = first_ts[host.hostname] - SAMPLE_SECONDS
        while ts - SAMPLE_SECONDS >= hour_start:
            stamps.append(ts)
            ts -= SAMPLE_SECONDS
        stamps.reverse()
        if stamps:
            plan.append((host, stamps))
    pending = deque(plan)
    errors = []
    lock = threading.Lock()

    def register():
        session = requests.Session()
        while True:
            with lock:
                if not pending or errors:
                    return
                host, stamps = pending.popleft()
            body = json.dumps(host.batch([gpu.sample(stamps[0]) for gpu in host.gpus])).encode()
            try:
                for _ in range(20):
                    response = session.post(
                        url,
                        data=gzip.compress(body, 5),
                        headers={
                            "Authorization": f"Bearer {host.token}",
                            "Content-Type": "application/json",
                            "Content-Encoding": "gzip",
                        },
                        timeout=120,
                    )
                    if response.status_code not in (429, 503):
                        break
                    time.sleep(float(response.headers.get("Retry-After", 5)))
                if response.status_code != 202:
                    raise RuntimeError(f"{response.status_code} {response.text[:300]}")
            except Exception as error:  # noqa: BLE001 - reported by the caller
                with lock:
                    errors.append(repr(error))
                return

    threads = [threading.Thread(target=register, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"registering the fleet failed: {errors[0]}")
    rows = 0
    with psycopg.connect(server_url(BENCH_DB)) as conn:
        device_ids = dict(conn.execute("SELECT uuid, id FROM collectors_device").fetchall())
        columns = "device_id, ts, duration_s, energy_j, power_w, util_pct, mem_used_mib, tags"
        with conn.cursor().copy(f"COPY collectors_rawsample ({columns}) FROM STDIN") as copy:
            for host, stamps in plan:
                for ts in stamps[1:]:
                    for gpu in host.gpus:
                        s = gpu.sample(ts)
                        copy.write_row(
                            (
                                device_ids[gpu.uuid],
                                datetime.fromtimestamp(ts, UTC),
                                s["duration_s"],
                                s["energy_j"],
                                s["power_w"],
                                s["util_pct"],
                                s["mem_used_mib"],
                                json.dumps(s["tags"]) if s["tags"] else None,
                            )
                        )
                        rows += 1
        conn.commit()
        conn.execute("ANALYZE collectors_rawsample")
    return rows + sum(len(host.gpus) for host, _ in plan)


def run_phase(args, workers: int, gpus: int, minutes: float, prefill_hour: bool) -> Phase:
    phase = Phase(workers=workers, gpus=gpus, gpus_per_host=args.gpus_per_host, minutes=minutes)
    workdir = Path(tempfile.mkdtemp(prefix="greenai-fleet-"))
    port = free_port()
    env = os.environ.copy()
    env.update(
        DATABASE_URL=server_url(BENCH_DB),
        CELERY_BROKER_URL=redis_url(),
        CACHE_URL=redis_url(),
        ROLLUP_EVERY_SECONDS=str(args.rollup_every),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    # Beat starts afresh in every phase.
    for stale in Path(os.environ["GREENAI_VAR_DIR"]).glob("celerybeat-schedule*"):
        stale.unlink()
    services = Services(workdir, env)
    fleet = None
    probe = None
    recreate_database()
    try:
        tokens = setup_organisation(gpus, args.gpus_per_host)
        hosts = make_fleet(gpus, args.gpus_per_host, tokens)
        # Stale tasks of an earlier run on this broker database would run against this one.
        subprocess.run(
            [sys.executable, "-m", "celery", "-A", "greenai_site", "purge", "-f"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        services.gunicorn(args.web_workers, port)
        url = f"http://127.0.0.1:{port}/api/v1/ingest"

        duration = minutes * 60
        # The simulated clock starts half a run before an hour boundary in the recent past...
        now = time.time()
        boundary = math.floor((now + duration / 2) / 3600) * 3600
        sim_start = boundary - duration / 2
        first_ts = {h.hostname: sim_start + h.offset_s + PUSH_EVERY for h in hosts}
        if prefill_hour:
            t0 = time.perf_counter()
            phase.prefill_samples = prefill(hosts, url, first_ts, boundary - 3600)
            print(
                f"  prefill: {phase.prefill_samples:,} samples of the hour before the boundary "
                f"in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
            t0 = time.perf_counter()
            done = subprocess.run(
                [
                    sys.executable,
                    "manage.py",
                    "rollup",
                    "--start",
                    iso(boundary - 3600),
                    "--end",
                    iso(boundary),
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            phase.prefill_rollup_s = time.perf_counter() - t0
            if done.returncode:
                raise RuntimeError(f"manage.py rollup failed: {done.stderr[-2000:]}")
            phase.prefill_rollup = " ".join((done.stdout + done.stderr).split())[-300:]
            print(f"  prefill rollup ({phase.prefill_rollup_s:.0f} s): {phase.prefill_rollup}")
        worker_logs = services.celery_workers(workers)
        tasks = TaskLog(worker_logs)
        probe = Probe(f"http://127.0.0.1:{port}/metrics")
        # ...and runs on from there whatever the setup took, so that the samples follow the
        # prefill without a gap and the boundary falls in the middle of the run.
        started = time.time()
        shift = started - sim_start
        phase.hour_boundary = iso(boundary)
        fleet = Fleet(hosts, url, shift, args.spool_max, args.senders)
        fleet.start(started)
        print(
            f"  clock started; simulated time {iso(started - shift)}, hour boundary at "
            f"{iso(boundary)} (simulated) after {(boundary - started + shift) / 60:.1f} min",
            flush=True,
        )
        header = (
            f"  {'min':>3} {'sim clock':>8} {'req':>5} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'acc/s':>6} {'err':>4} {'ticks':>5} {'rollups':>7} {'skip':>4} {'dur s':>6} "
            f"{'lag s':>6} {'mlag s':>6} {'dirty':>6} {'raw rows':>10} {'raw MB':>7} "
            f"{'spool':>6} {'max':>4} {'drop':>4} {'load1':>5}"
        )
        print(header, flush=True)
        minutes_total = math.ceil(minutes)
        for n in range(1, minutes_total + 1):
            end = started + min(n * 60, duration)
            lags = []
            while time.time() < end:
                time.sleep(min(5, max(0.1, end - time.time())))
                lags.append(probe.dirty()[1])
            minute = fleet.take_minute()
            ticks, done = tasks.read()
            finished = [d for d in done if d[1] == "succeeded"]
            skipped = [d for d in finished if "'skipped': True" in d[3]]
            ran = [d for d in finished if d not in skipped]
            failed = [d for d in done if d[1] != "succeeded"]
            count, age = probe.dirty()
            rows, size = probe.raw()
            backlog, largest = fleet.backlog()
            seconds = min(60, duration - (n - 1) * 60)
            row = {
                "minute": n,
                "sim": datetime.fromtimestamp(time.time() - shift, UTC).strftime("%H:%M:%S"),
                "requests": minute.requests,
                "p50_ms": percentile(minute.latencies, 0.5) * 1000,
                "p99_ms": percentile(minute.latencies, 0.99) * 1000,
                "accepted_per_s": minute.accepted / seconds,
                "errors": dict(minute.errors),
                "ticks": ticks,
                "rollups": len(ran),
                "skipped": len(skipped),
                "failed_tasks": len(failed),
                "rollup_s": max((d[2] for d in ran), default=math.nan),
                "lag_s": max(lags + [age]),
                "metrics_lag_s": probe.metrics_lag(),
                "dirty": count,
                "raw_rows": rows,
                "raw_bytes": size,
                "spool": backlog,
                "spool_max": largest,
                "dropped": minute.dropped,
                "load1": os.getloadavg()[0],
            }
            phase.rows.append(row)
            phase.load.append(os.getloadavg())
            mlag = row["metrics_lag_s"]
            print(
                f"  {n:>3} {row['sim']:>8} {row['requests']:>5} {row['p50_ms']:>7.0f} "
                f"{row['p99_ms']:>7.0f} {row['accepted_per_s']:>6.0f} "
                f"{sum(row['errors'].values()):>4} {ticks:>5} {row['rollups']:>7} "
                f"{row['skipped']:>4} "
                f"{row['rollup_s']:>6.1f} {row['lag_s']:>6.0f} "
                f"{'-' if mlag is None else f'{mlag:.0f}':>6} {count:>6} {rows:>10,} "
                f"{size / 2**20:>7.1f} {backlog:>6} {largest:>4} {row['dropped']:>4} "
                f"{row['load1']:>5.1f}",
                flush=True,
            )
        fleet.stop()
        rows, size = probe.raw()
        summarise(phase, rows, size, probe.span())
        return phase
    finally:
        if fleet is not None:
            fleet.stop()
        if probe is not None:
            probe.close()
        services.stop()
        if not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"  logs kept in {workdir}")
        drop_database()


def summarise(phase: Phase, rows: int, size: int, span_s: float):
    """End-of-phase figures and the verdict; per GPU-hour over the simulated time stored."""
    gpu_hours = phase.gpus * span_s / 3600
    per_gpu_hour = rows / gpu_hours if gpu_hours else math.nan
    per_row = size / rows if rows else math.nan
    all_latency = [r["p99_ms"] for r in phase.rows]
    spools = [r["spool"] for r in phase.rows]
    max_lag = max(r["lag_s"] for r in phase.rows)
    metric_lags = [r["metrics_lag_s"] for r in phase.rows if r["metrics_lag_s"] is not None]
    rollups = [r["rollup_s"] for r in phase.rows if not math.isnan(r["rollup_s"])]
    dropped = sum(r["dropped"] for r in phase.rows)
    errors = {}
    for r in phase.rows:
        for status, count in r["errors"].items():
            errors[status] = errors.get(status, 0) + count
    # Flat: at the end no more batches waiting than at the end of the first minute, give or take
    # one batch for one host in ten (a push in flight at the moment of reading).
    hosts = math.ceil(phase.gpus / phase.gpus_per_host)
    spool_flat = dropped == 0 and spools[-1] <= spools[0] + max(1, hosts // 10)
    phase.summary = {
        "raw_rows": rows,
        "raw_bytes": size,
        "rows_per_gpu_hour": per_gpu_hour,
        "bytes_per_row": per_row,
        "bytes_per_gpu_day": per_row * per_gpu_hour * 24,
        "max_lag_s": max_lag,
        "max_metrics_lag_s": max(metric_lags) if metric_lags else None,
        "max_rollup_s": max(rollups) if rollups else None,
        "rollups": sum(r["rollups"] for r in phase.rows),
        "skipped": sum(r["skipped"] for r in phase.rows),
        "worst_p99_ms": max(all_latency) if all_latency else None,
        "spool_first_last": (spools[0], spools[-1]) if spools else None,
        "dropped": dropped,
        "errors": errors,
        "accepted_per_s": statistics.mean(r["accepted_per_s"] for r in phase.rows),
    }
    if max_lag >= MAX_LAG_S:
        phase.failures.append(f"rollup lag reached {max_lag:.0f} s (limit {MAX_LAG_S} s)")
    if metric_lags and max(metric_lags) >= MAX_LAG_S:
        phase.failures.append(f"/metrics lag reached {max(metric_lags):.0f} s")
    if not spool_flat:
        phase.failures.append(
            f"spools grew ({spools[0]} -> {spools[-1]} batches) or dropped {dropped} batches"
        )
    if errors:
        phase.failures.append(f"ingest errors {errors}")
    if not rollups:
        phase.failures.append("no rollup finished during the run")
    phase.kept_up = not phase.failures


def print_summary(phase: Phase):
    s = phase.summary
    print(
        f"  == {phase.gpus:,} GPUs, {phase.workers} Celery worker(s), {phase.minutes:g} min: "
        f"{'KEPT UP' if phase.kept_up else 'FELL BEHIND: ' + '; '.join(phase.failures)}"
    )
    print(
        f"     accepted {s['accepted_per_s']:,.0f} samples/s on average; worst minute p99 "
        f"{s['worst_p99_ms']:.0f} ms; rollups finished {s['rollups']} (skipped {s['skipped']}), "
        f"longest {s['max_rollup_s'] or math.nan:.1f} s; max lag {s['max_lag_s']:.0f} s "
        f"(dirty marks in the database)"
        + (
            f", {s['max_metrics_lag_s']:.0f} s (/metrics)"
            if s["max_metrics_lag_s"] is not None
            else ""
        )
    )
    print(
        f"     raw rows {s['raw_rows']:,}, {s['raw_bytes'] / 2**20:,.1f} MiB: "
        f"{s['rows_per_gpu_hour']:.0f} rows per GPU-hour, {s['bytes_per_row']:.0f} bytes per "
        f"row (table and indexes), {s['bytes_per_gpu_day'] / 2**20:.2f} MiB per GPU-day; "
        f"spool {s['spool_first_last']} batches (first, last minute), dropped {s['dropped']}"
    )


def find_max(args) -> None:
    workers = max(args.workers)
    gpus = args.find_max_start
    best = None
    while gpus <= args.find_max_limit:
        print(f"== find-max: {gpus:,} GPUs, {workers} worker(s), {args.find_max_minutes} min")
        phase = run_phase(args, workers, gpus, args.find_max_minutes, not args.no_prefill)
        print_summary(phase)
        if not phase.kept_up:
            break
        best = gpus
        gpus = int(gpus * args.find_max_step)
    if best is None:
        print(f"find-max: even {args.find_max_start:,} GPUs did not keep up on this machine")
    else:
        print(
            f"find-max: largest fleet that kept up (lag < {MAX_LAG_S} s, spools flat): "
            f"{best:,} GPUs with {workers} worker(s)"
            + (f"; {gpus:,} did not" if gpus <= args.find_max_limit else "")
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=5000)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument(
        "--workers",
        default="1,2",
        type=lambda v: [int(x) for x in v.split(",")],
        help="Celery worker counts to compare, one phase each (default 1,2)",
    )
    parser.add_argument("--gpus-per-host", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--rollup-every", type=int, default=60, help="ROLLUP_EVERY_SECONDS")
    parser.add_argument("--spool-max", type=int, default=60, help="batches a host keeps")
    parser.add_argument("--senders", type=int, default=32, help="client threads")
    parser.add_argument("--no-prefill", action="store_true", help="start the hour empty")
    parser.add_argument("--find-max", action="store_true")
    parser.add_argument("--find-max-start", type=int, default=1000)
    parser.add_argument("--find-max-step", type=float, default=1.5)
    parser.add_argument("--find-max-limit", type=int, default=100_000)
    parser.add_argument("--find-max-minutes", type=float, default=3)
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()

    # One state directory (secret key, beat schedule) shared by this process and the services.
    var_dir = tempfile.mkdtemp(prefix="greenai-fleet-var-")
    os.environ["GREENAI_VAR_DIR"] = var_dir
    try:
        run(args)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def run(args):

    # Ctrl-C and SIGTERM unwind through the finally blocks, which stop what was started.
    signal.signal(signal.SIGTERM, interrupted)
    print(f"GreenAI fleet benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"PostgreSQL {server_version()}; load average at start "
        + " / ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    if args.find_max:
        find_max(args)
        return
    phases = []
    for workers in args.workers:
        print(
            f"== {args.gpus:,} GPUs ({math.ceil(args.gpus / args.gpus_per_host)} hosts), "
            f"{workers} Celery worker(s), {args.minutes:g} min, gunicorn {args.web_workers} "
            f"workers, rollup every {args.rollup_every} s",
            flush=True,
        )
        phase = run_phase(args, workers, args.gpus, args.minutes, not args.no_prefill)
        print_summary(phase)
        phases.append(phase)
    if len(phases) > 1:
        print("comparison:")
        for phase in phases:
            s = phase.summary
            print(
                f"  {phase.workers} worker(s): max lag {s['max_lag_s']:.0f} s, longest rollup "
                f"{s['max_rollup_s'] or math.nan:.1f} s, worst p99 {s['worst_p99_ms']:.0f} ms, "
                f"{'kept up' if phase.kept_up else 'fell behind'}"
            )
    if args.json:
        Path(args.json).write_text(
            json.dumps([phase.__dict__ for phase in phases], indent=1, default=str)
        )


def interrupted(signum, frame):
    raise KeyboardInterrupt


def server_version() -> str:
    with psycopg.connect(server_url("postgres")) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


if __name__ == "__main__":
    main()
