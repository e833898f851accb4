"""Rollups run by real Celery workers (Redis broker on PostgreSQL; filesystem broker on SQLite).

The periodic task fans the work out as one task per shard; two workers share the shards, every
hour is computed exactly once, and the facts equal a recompute from scratch.
"""

import os
import signal
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from assessments.footprint import rollup
from assessments.models import HourlyDeviceFact, HourlyProjectFact, RollupShard
from assessments.organisation.services import recompute_facts
from assessments.tasks import rollup_dirty_hours, rollup_shard
from collectors.models import DirtyHour, RawSample
from greenai_site.celery import app  # noqa: F401  (configures the app the tasks are sent with)
from tests.assessments.footprint.rollup_factories import (
    HOUR,
    T0,
    add_samples,
    make_device,
    make_host,
    make_project,
    make_site,
)
from tests.processes import CeleryWorker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

GPUS, HOURS = 8, 6


@pytest.fixture(scope="module")
def workers(django_db_setup, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("workers")
    started = [CeleryWorker(log_dir, name=f"rollup{n}") for n in (1, 2)]
    try:
        for worker in started:
            worker.start()
        yield started
    finally:
        # Cold shutdown of both at once: a warm one waits for the broker poll, per worker.
        for worker in started:
            if worker.process is not None and worker.process.poll() is None:
                os.killpg(worker.process.pid, signal.SIGQUIT)
        for worker in started:
            worker.stop()


def make_dirty_hours():
    site = make_site()
    make_project("llm")
    devices = [make_device(make_host(site)) for _ in range(GPUS)]
    for device in devices:
        # 60 samples of 60 s at 600 W per hour (0.6 kWh), 80% tagged "llm".
        add_samples(
            device,
            end=T0 + HOURS * HOUR,
            count=60 * HOURS,
            every_s=60.0,
            power_w=600.0,
            tags=[{"project": "llm", "share": 0.8}],
        )
    return devices


def wait_until(condition, timeout=90, workers=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    logs = "\n".join(w.log()[-3000:] for w in workers)
    raise AssertionError(f"timed out waiting; worker logs:\n{logs}")


def shard_runs(worker) -> list[int]:
    """Hours each finished shard task of this worker processed, from its log."""
    return [
        int(line.split("rollup shard ")[1].split(": ")[1].split(" hours")[0])
        for line in worker.log().splitlines()
        if "rollup shard " in line and " hours (" in line
    ]


def facts_snapshot():
    return {
        (f.device_id, f.hour): (f.energy_it_kwh, f.operational_kgco2e, f.gpu_hours, f.cost)
        for f in HourlyDeviceFact.objects.all()
    }


def test_two_workers_share_the_shards_and_the_facts_equal_a_recompute(workers):
    make_dirty_hours()
    expected_pairs = GPUS * HOURS
    before = [len(shard_runs(w)) for w in workers]
    rollup_dirty_hours.apply_async()  # the beat task: one task per shard with marks
    wait_until(lambda: DirtyHour.objects.count() == 0, workers=workers)
    wait_until(
        lambda: (
            sum(sum(shard_runs(w)[b:]) for w, b in zip(workers, before, strict=True))
            == expected_pairs
        ),
        workers=workers,
    )
    done = [shard_runs(w)[b:] for w, b in zip(workers, before, strict=True)]
    # Both workers took shards: they really shared the work.
    assert all(sum(runs) > 0 for runs in done), done
    assert HourlyDeviceFact.objects.count() == expected_pairs
    # Every hour has exactly one tagged part and one unallocated part.
    assert HourlyProjectFact.objects.count() == 2 * expected_pairs
    raw_kwh = RawSample.objects.aggregate(j=Sum("energy_j"))["j"] / 3.6e6
    totals = HourlyDeviceFact.objects.aggregate(kwh=Sum("energy_it_kwh"), h=Sum("gpu_hours"))
    assert totals["kwh"] == pytest.approx(raw_kwh) == pytest.approx(GPUS * HOURS * 0.6)
    assert totals["h"] == pytest.approx(GPUS * HOURS)
    llm = HourlyProjectFact.objects.filter(project__slug="llm").aggregate(kwh=Sum("energy_it_kwh"))
    assert llm["kwh"] == pytest.approx(0.8 * GPUS * HOURS * 0.6)
    shared = facts_snapshot()
    HourlyProjectFact.objects.all().delete()
    HourlyDeviceFact.objects.all().delete()
    recompute_facts(start=T0 - HOUR, end=T0 + (HOURS + 1) * HOUR)
    recomputed = facts_snapshot()
    assert set(shared) == set(recomputed)
    for key, values in shared.items():
        assert values == pytest.approx(recomputed[key], rel=1e-9)


def test_a_shard_busy_elsewhere_is_skipped_and_its_marks_are_taken_by_a_later_run(workers):
    if connection.vendor != "postgresql":
        pytest.skip("row claims with SKIP LOCKED are PostgreSQL's; SQLite serialises writers")
    devices = make_dirty_hours()
    rollup._ensure_shards()
    shard = devices[0].pk % rollup.shard_count()
    with transaction.atomic():
        # Another run holds the shard.
        RollupShard.objects.select_for_update().get(shard=shard)
        rollup_shard.apply_async(kwargs={"shard": shard})
        wait_until(
            lambda: any(f"rollup shard {shard}: 0 hours" in w.log() for w in workers),
            workers=workers,
            timeout=60,
        )
        assert DirtyHour.objects.filter(device=devices[0]).count() == HOURS
    rollup_dirty_hours.apply_async()
    wait_until(lambda: HourlyDeviceFact.objects.count() == GPUS * HOURS, workers=workers)
    wait_until(lambda: DirtyHour.objects.count() == 0, workers=workers)
    # A late sample: 60 s more at 600 W in the first hour (an interval that overlapped a gap).
    add_samples(devices[0], end=T0 + timedelta(seconds=30), every_s=30.0, energy_j=18000.0)
    rollup_dirty_hours.apply_async()
    fact = HourlyDeviceFact.objects.filter(device=devices[0], hour=T0)
    wait_until(
        lambda: (
            fact.first() is not None
            and abs(fact.first().energy_it_kwh - (0.6 + 18000 / 3.6e6)) < 1e-9
        ),
        workers=workers,
    )
    assert HourlyDeviceFact.objects.count() == GPUS * HOURS
