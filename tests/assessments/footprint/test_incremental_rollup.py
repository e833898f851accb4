"""The incremental rollup: hours updated from their new samples equal a recompute from scratch.

Several devices and projects, tags, an allocation, unallocated time and samples crossing hour
boundaries arrive in several steps with a rollup after each; the facts (hourly and daily) must
equal those a full recompute of the same samples gives, to 1e-9.
"""

import math
from collections import defaultdict
from datetime import timedelta

import pytest

from assessments.footprint import rollup
from assessments.footprint.daily_facts import daily_facts_refresh
from assessments.footprint.rollup import rollup_dirty_hours, rollup_shard
from assessments.models import MEASURE_FIELDS as SUMMED
from assessments.models import (
    DailyDeviceFact,
    DailyHostRangeFact,
    DailyProjectFact,
    DailyRangeFact,
    HourlyDeviceFact,
    HourlyProjectFact,
    RollupShard,
)
from assessments.organisation.services import facts_recompute
from collectors.models import DirtyHour
from tests.assessments.footprint.rollup_factories import (
    HOUR,
    T0,
    add_samples,
    make_allocation,
    make_device,
    make_host,
    make_project,
    make_site,
)

pytestmark = pytest.mark.django_db

MEASURES = (*SUMMED, "measured_seconds", "coverage")


def snapshot() -> dict:
    """Every figure of the facts, keyed so that two computations can be compared."""
    figures = {}
    for f in HourlyDeviceFact.objects.all():
        key = ("device-hour", f.device_id, f.hour)
        figures[key] = {name: getattr(f, name) for name in MEASURES}
        figures[key]["util_mean_pct"] = f.util_mean_pct
        figures[key]["notes"] = tuple(f.factor_notes)
    parts = defaultdict(lambda: defaultdict(float))
    for p in HourlyProjectFact.objects.all():
        key = ("project-hour", p.device_id, p.hour, p.project_id, p.attribution, p.phase)
        for name in SUMMED:
            parts[key][name] += getattr(p, name)
    for d in DailyDeviceFact.objects.all():
        key = ("device-day", d.device_id, d.day)
        figures[key] = {
            name: getattr(d, name)
            for name in (*SUMMED, "hours", "measured_seconds", "util_pct_sum", "idle_hours")
        }
    for d in DailyProjectFact.objects.all():
        key = ("project-day", d.day, d.project_id, d.team_id, d.site_id, d.phase)
        for name in SUMMED:
            parts[key][name] += getattr(d, name)
    for d in DailyRangeFact.objects.all():
        key = ("range-day", d.day, d.project_id, d.team_id, d.site_id, d.phase, d.host_id)
        key += (d.measurement,)
        for name in SUMMED:
            parts[key][name] += getattr(d, name)
    for d in DailyHostRangeFact.objects.all():
        key = ("host-range-day", d.day, d.site_id, d.host_id, d.measurement)
        for name in SUMMED:
            parts[key][name] += getattr(d, name)
    for key, values in parts.items():
        if any(abs(v) > 1e-12 for v in values.values()):  # a day's row a later step emptied
            figures[key] = dict(values)
    return figures


def assert_same(left: dict, right: dict):
    assert set(left) == set(right)
    for key, values in left.items():
        for name, value in values.items():
            other = right[key][name]
            if isinstance(value, float) and isinstance(other, float):
                assert math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-9), (key, name)
            else:
                assert value == other, (key, name)


def test_incremental_steps_equal_a_recompute_from_scratch():
    site = make_site()
    llm = make_project("llm")
    vision = make_project("vision", team_name="CV", phase="inference")
    hosts = [make_host(site), make_host(site)]
    gpus = [make_device(hosts[0], index=0), make_device(hosts[0], index=1)]
    gpus.append(make_device(hosts[1], index=0))
    # An allocation of host 0 ending mid-hour: untagged time of its GPUs goes to vision.
    make_allocation(vision, hosts[0], start=T0 - HOUR, end=T0 + timedelta(minutes=40))
    tags_llm = [{"project": "llm", "share": 0.7}]
    tags_both = [{"project": "llm", "share": 0.5}, {"project": "vision", "share": 0.25}]
    steps = [
        # (device, end, count, every_s, power, tags, util)
        [
            (gpus[0], T0 + timedelta(minutes=10), 60, 10.0, 300.0, tags_llm, 80),
            (gpus[1], T0 + timedelta(minutes=7, seconds=3), 10, 37.0, 150.0, None, 2),
            (gpus[2], T0 + timedelta(minutes=20), 100, 11.0, 410.0, tags_both, None),
        ],
        [
            (gpus[0], T0 + timedelta(minutes=30), 120, 10.0, 320.0, tags_llm, 85),
            (gpus[1], T0 + timedelta(minutes=50, seconds=3), 60, 43.0, 180.0, tags_both, 50),
        ],
        [
            # Crossing the hour boundary (97.5 s intervals) into the next hour.
            (gpus[0], T0 + HOUR + timedelta(minutes=5), 20, 97.5, 280.0, None, 10),
            (gpus[2], T0 + HOUR + timedelta(seconds=45), 20, 97.5, 500.0, tags_llm, 99),
        ],
        [
            (gpus[0], T0 + HOUR + timedelta(minutes=25), 120, 10.0, 250.0, tags_both, 60),
            (gpus[1], T0 + HOUR + timedelta(minutes=5), 3, 300.0, 200.0, None, None),
            # Late data: a gap early in the first hour filled in.
            (gpus[2], T0 + timedelta(seconds=50), 5, 10.0, 100.0, None, 5),
        ],
    ]
    incremental = 0
    for step in steps:
        for device, end, count, every_s, power_w, tags, util in step:
            add_samples(
                device,
                end=end,
                count=count,
                every_s=every_s,
                power_w=power_w,
                tags=tags,
                util_pct=util,
            )
        result = rollup_dirty_hours()
        assert result.failed == 0
        incremental += result.incremental
        assert DirtyHour.objects.count() == 0
    assert incremental >= 5  # later steps added to stored sums instead of re-reading hours
    stepwise = snapshot()
    assert any(key[0] == "project-hour" and key[3] is None for key in stepwise)  # unallocated
    assert any(key[0] == "project-hour" and key[3] == llm.pk for key in stepwise)
    assert any(key[0] == "range-day" and key[2] == llm.pk for key in stepwise)
    assert any(key[0] == "host-range-day" for key in stepwise)

    HourlyProjectFact.objects.all().delete()
    HourlyDeviceFact.objects.all().delete()
    DailyDeviceFact.objects.all().delete()
    DailyProjectFact.objects.all().delete()
    DailyRangeFact.objects.all().delete()
    DailyHostRangeFact.objects.all().delete()
    _, result = facts_recompute(start=T0 - HOUR, end=T0 + 3 * HOUR)
    assert result.incremental == 0
    assert_same(stepwise, snapshot())
    # The daily aggregates rebuilt whole from the hours say the same as the rollup's deltas.
    daily_facts_refresh(start=T0 - HOUR, end=T0 + 3 * HOUR)
    assert_same(stepwise, snapshot())


def test_a_recompute_leaves_out_a_batch_whose_mark_it_did_not_take_and_that_mark_adds_it():
    gpu = make_device(make_host(make_site()))
    add_samples(gpu, end=T0 + timedelta(minutes=30), count=180, every_s=10.0, power_w=1000.0)
    rollup_dirty_hours()
    facts_recompute(start=T0, end=T0 + HOUR)  # rolls up at once, leaving nothing marked
    # A recompute request, then a batch whose mark is newer than the run's starting point.
    from assessments.organisation.services import _mark

    _mark({(gpu.pk, T0)}, refresh_factors=False)
    up_to = rollup.last_mark_id()
    add_samples(gpu, end=T0 + timedelta(minutes=45), count=90, every_s=10.0, power_w=1000.0)
    result = rollup_shard(gpu.pk % rollup.shard_count(), up_to=up_to)
    assert result.marks == 1  # the newer mark stays for the next run
    fact = HourlyDeviceFact.objects.get(device=gpu, hour=T0)
    assert fact.energy_it_kwh == pytest.approx(0.5)
    assert DirtyHour.objects.count() == 1
    result = rollup_dirty_hours()
    assert result.incremental == 1
    assert result.rows == 90  # only the new rows were read
    fact = HourlyDeviceFact.objects.get(device=gpu, hour=T0)
    assert fact.energy_it_kwh == pytest.approx(0.75)
    assert fact.measured_seconds == pytest.approx(2700.0)


def test_a_shard_run_records_its_figures_for_metrics():
    gpu = make_device(make_host(make_site()))
    add_samples(gpu, end=T0 + timedelta(minutes=30), count=30, every_s=60.0, power_w=100.0)
    rollup_dirty_hours()
    shard = RollupShard.objects.get(shard=gpu.pk % rollup.shard_count())
    assert shard.runs == 1
    assert shard.last_marks == 1
    assert shard.last_hours == 1
    assert shard.last_rows == 30
    assert shard.last_finished_at >= shard.last_started_at
