"""Rollups run by real Celery workers (Redis broker on PostgreSQL; filesystem broker on SQLite).

Two workers take rollup tasks for the same dirty hours at once: every hour is computed exactly
once, and the totals equal the raw samples' energy.
"""

import os
import signal
import time
from datetime import timedelta

import pytest
from django.db.models import Sum

from assessments.footprint.rollup_lock import exclusive_rollup
from assessments.models import HourlyDeviceFact, HourlyProjectFact
from assessments.tasks import rollup_dirty_hours
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

GPUS, HOURS = 4, 6


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


def rollup_runs(worker) -> list[int]:
    """Hours each finished rollup task of this worker processed, from its log."""
    return [
        int(line.split("rollup: ")[1].split(" hours")[0])
        for line in worker.log().splitlines()
        if "rollup: " in line and " hours in " in line
    ]


def test_two_workers_on_the_same_dirty_hours_never_double_count(workers):
    make_dirty_hours()
    expected_pairs = GPUS * HOURS
    assert DirtyHour.objects.count() == expected_pairs
    before = [len(rollup_runs(w)) for w in workers]
    # Small non-exclusive runs at once: both workers claim batches of the same backlog.
    tasks = expected_pairs // 2
    for _ in range(tasks):
        rollup_dirty_hours.apply_async(
            kwargs={"batch_size": 2, "max_batches": 1, "exclusive": False}
        )
    wait_until(
        lambda: sum(len(rollup_runs(w)) for w in workers) - sum(before) == tasks,
        workers=workers,
    )
    assert DirtyHour.objects.count() == 0
    done = [rollup_runs(w)[b:] for w, b in zip(workers, before, strict=True)]
    assert sum(sum(runs) for runs in done) == expected_pairs
    assert HourlyDeviceFact.objects.count() == expected_pairs
    # Every hour has exactly one tagged part and one unallocated part.
    assert HourlyProjectFact.objects.count() == 2 * expected_pairs
    raw_kwh = RawSample.objects.aggregate(j=Sum("energy_j"))["j"] / 3.6e6
    totals = HourlyDeviceFact.objects.aggregate(kwh=Sum("energy_it_kwh"), h=Sum("gpu_hours"))
    assert totals["kwh"] == pytest.approx(raw_kwh) == pytest.approx(GPUS * HOURS * 0.6)
    assert totals["h"] == pytest.approx(GPUS * HOURS)
    llm = HourlyProjectFact.objects.filter(project__slug="llm").aggregate(kwh=Sum("energy_it_kwh"))
    assert llm["kwh"] == pytest.approx(0.8 * GPUS * HOURS * 0.6)
    # Both workers did part of the work: they really ran at the same time.
    assert all(sum(runs) > 0 for runs in done)


def test_a_periodic_run_skips_while_another_holds_the_lock_and_late_samples_are_picked_up(
    workers,
):
    devices = make_dirty_hours()
    with exclusive_rollup() as acquired:
        assert acquired
        rollup_dirty_hours.apply_async()
        wait_until(lambda: any("skipped" in w.log() for w in workers), workers=workers, timeout=60)
        assert DirtyHour.objects.count() == GPUS * HOURS
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
