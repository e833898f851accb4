"""The rollup service against a real database: hand-checked numbers for every rule of DESIGN 4.

Scenario (tests/assessments/footprint/rollup_factories.py): PUE 1.5, 400 gCO2e/kWh annual, 0.20/kWh,
2 kgCO2e embodied per device-hour for a host with one GPU. 3.6e6 J = 1 kWh.
"""

import io
import math
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import override_settings

from assessments.footprint import rollup
from assessments.footprint.rollup import rollup_dirty_hours
from assessments.footprint.selectors import rollup_backlog
from assessments.models import HourlyDeviceFact, HourlyProjectFact
from assessments.organisation.services import mark_hours_for_recompute, recompute_facts
from collectors.models import DirtyHour, RawSample
from tests.assessments.footprint.rollup_factories import (
    HOUR,
    T0,
    add_hourly_grid,
    add_samples,
    make_allocation,
    make_device,
    make_host,
    make_project,
    make_site,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def gpu():
    site = make_site()
    return make_device(make_host(site))


def fact(device, hour):
    return HourlyDeviceFact.objects.get(device=device, hour=hour)


def parts(device, hour):
    return {
        (p.project.slug if p.project else None, p.attribution): p
        for p in HourlyProjectFact.objects.filter(device=device, hour=hour).select_related(
            "project"
        )
    }


def assert_parts_add_up(device, hour):
    device_fact = fact(device, hour)
    project_facts = list(HourlyProjectFact.objects.filter(device=device, hour=hour))
    for name in (
        "energy_it_kwh",
        "energy_facility_kwh",
        "operational_kgco2e",
        "embodied_kgco2e",
        "cost",
        "gpu_hours",
    ):
        total = math.fsum(getattr(p, name) for p in project_facts)
        assert total == pytest.approx(getattr(device_fact, name), rel=1e-12, abs=1e-15), name


def test_one_full_hour_gives_the_hand_computed_figures(gpu):
    # 3600 samples of 1 s at 1000 W = 3.6e6 J = 1 kWh IT.
    add_samples(gpu, end=T0 + HOUR, count=3600, power_w=1000.0, util_pct=50)
    result = rollup_dirty_hours()
    assert result.hours == 1
    f = fact(gpu, T0)
    assert f.energy_it_kwh == pytest.approx(1.0)
    assert f.energy_facility_kwh == pytest.approx(1.5)  # PUE 1.5
    assert f.operational_kgco2e == pytest.approx(0.6)  # 1.5 kWh x 400 g / 1000
    assert f.cost == pytest.approx(0.30)  # 1.5 kWh x 0.20
    assert f.gpu_hours == pytest.approx(1.0)
    assert f.embodied_kgco2e == pytest.approx(2.0)  # (1 + 1) kg/h x 1 h
    assert f.coverage == pytest.approx(1.0)
    assert f.util_mean_pct == pytest.approx(50)
    assert (f.pue, f.grid_gco2e_per_kwh, f.price_per_kwh) == (1.5, 400.0, 0.2)
    assert f.embodied_kgco2e_per_hour == pytest.approx(2.0)
    assert "test annual value" in f.grid_source
    assert DirtyHour.objects.count() == 0
    assert_parts_add_up(gpu, T0)
    assert parts(gpu, T0).keys() == {(None, "unallocated")}


def test_an_interval_straddling_an_hour_splits_pro_rata(gpu):
    # [10:59:30, 11:00:30): 60 s, 6000 J -> 30 s and 3000 J on each side.
    add_samples(gpu, end=T0 + HOUR + timedelta(seconds=30), every_s=60.0, energy_j=6000.0)
    rollup_dirty_hours()
    before, after = fact(gpu, T0), fact(gpu, T0 + HOUR)
    assert before.energy_it_kwh == pytest.approx(3000 / 3.6e6)
    assert after.energy_it_kwh == pytest.approx(3000 / 3.6e6)
    assert before.measured_seconds == pytest.approx(30)
    assert before.coverage == pytest.approx(30 / 3600)
    assert before.gpu_hours == pytest.approx(30 / 3600)


def test_hourly_grid_series_is_used_where_imported_and_annual_value_elsewhere(gpu):
    add_hourly_grid("TST-ZONE", T0, 100.0)  # 10:00 imported; 11:00 is not
    add_samples(gpu, end=T0 + HOUR, count=1, every_s=3600.0, energy_j=3.6e6)
    add_samples(gpu, end=T0 + 2 * HOUR, count=1, every_s=3600.0, energy_j=3.6e6)
    rollup_dirty_hours()
    imported, annual = fact(gpu, T0), fact(gpu, T0 + HOUR)
    assert imported.grid_gco2e_per_kwh == 100.0
    assert imported.operational_kgco2e == pytest.approx(1.5 * 100 / 1000)
    assert "test hourly series" in imported.grid_source
    assert annual.grid_gco2e_per_kwh == 400.0
    assert annual.operational_kgco2e == pytest.approx(1.5 * 400 / 1000)


def test_a_shared_gpu_is_split_70_30_by_tags(gpu):
    make_project("llm")
    make_project("vision", team_name="CV", phase="inference")
    tags = [
        {"project": "llm", "phase": "fine_tuning", "share": 0.7},
        {"project": "vision", "share": 0.3},
    ]
    add_samples(gpu, end=T0 + HOUR, count=360, every_s=10.0, power_w=1000.0, tags=tags)
    rollup_dirty_hours()
    by_project = parts(gpu, T0)
    llm, vision = by_project[("llm", "tag")], by_project[("vision", "tag")]
    assert llm.energy_it_kwh == pytest.approx(0.7)
    assert vision.energy_it_kwh == pytest.approx(0.3)
    assert llm.gpu_hours == pytest.approx(0.7)  # a share of the time too
    assert llm.embodied_kgco2e == pytest.approx(0.7 * 2.0)
    assert vision.operational_kgco2e == pytest.approx(0.3 * 0.6)
    assert llm.phase == "fine_tuning"  # the tag's phase
    assert vision.phase == "inference"  # no phase in the tag: the project's
    assert llm.team.name == "NLP"
    assert set(by_project) == {("llm", "tag"), ("vision", "tag")}
    assert_parts_add_up(gpu, T0)


def test_an_unknown_tag_phase_falls_back_to_the_project_phase_with_a_note(gpu):
    make_project("llm", phase="training")
    long_phase = "pretraining-stage-two-with-a-very-long-name"
    tags = [{"project": "llm", "phase": long_phase, "share": 1.0}]
    add_samples(gpu, end=T0 + HOUR, every_s=3600.0, energy_j=3.6e6, tags=tags)
    rollup_dirty_hours()
    assert parts(gpu, T0)[("llm", "tag")].phase == "training"
    assert any(long_phase in note for note in fact(gpu, T0).factor_notes)


def test_untagged_rest_of_a_partial_tag_goes_to_allocation(gpu):
    llm = make_project("llm")
    make_allocation(llm, gpu.host, start=T0 - timedelta(days=1))
    add_samples(
        gpu,
        end=T0 + HOUR,
        count=1,
        every_s=3600.0,
        energy_j=3.6e6,
        tags=[{"project": "llm", "share": 0.25}],
    )
    rollup_dirty_hours()
    by_project = parts(gpu, T0)
    assert by_project[("llm", "tag")].energy_it_kwh == pytest.approx(0.25)
    assert by_project[("llm", "allocation")].energy_it_kwh == pytest.approx(0.75)
    assert_parts_add_up(gpu, T0)


def test_an_allocation_ending_mid_interval_gets_only_the_overlap(gpu):
    llm = make_project("llm")
    # Ends at 10:15; one untagged sample covers [10:00, 10:30): half before, half after.
    make_allocation(llm, gpu.host, start=T0 - HOUR, end=T0 + timedelta(minutes=15))
    add_samples(gpu, end=T0 + timedelta(minutes=30), every_s=1800.0, energy_j=1.8e6)
    rollup_dirty_hours()
    by_project = parts(gpu, T0)
    assert by_project[("llm", "allocation")].energy_it_kwh == pytest.approx(0.25)
    assert by_project[("llm", "allocation")].gpu_hours == pytest.approx(0.25)
    assert by_project[(None, "unallocated")].energy_it_kwh == pytest.approx(0.25)
    assert by_project[(None, "unallocated")].gpu_hours == pytest.approx(0.25)
    assert_parts_add_up(gpu, T0)


def test_allocations_apply_only_to_their_devices(gpu):
    other = make_device(gpu.host, index=1)
    llm = make_project("llm")
    make_allocation(llm, gpu.host, start=T0 - HOUR, device_indexes=[1])
    add_samples(gpu, end=T0 + HOUR, every_s=3600.0, energy_j=3.6e6)
    add_samples(other, end=T0 + HOUR, every_s=3600.0, energy_j=3.6e6)
    rollup_dirty_hours()
    assert set(parts(gpu, T0)) == {(None, "unallocated")}
    assert set(parts(other, T0)) == {("llm", "allocation")}
    # Two GPUs share the host: each carries 1 kg/h of its model plus half the host's 1 kg/h.
    assert fact(gpu, T0).embodied_kgco2e == pytest.approx(1.5)


def test_overlapping_allocations_share_the_time_equally(gpu):
    make_allocation(make_project("llm"), gpu.host, start=T0 - HOUR)
    make_allocation(make_project("vision", team_name="CV"), gpu.host, start=T0 - HOUR)
    add_samples(gpu, end=T0 + HOUR, every_s=3600.0, energy_j=3.6e6)
    rollup_dirty_hours()
    by_project = parts(gpu, T0)
    assert by_project[("llm", "allocation")].energy_it_kwh == pytest.approx(0.5)
    assert by_project[("vision", "allocation")].energy_it_kwh == pytest.approx(0.5)
    assert any("split equally" in note for note in fact(gpu, T0).factor_notes)


def test_idle_time_without_tag_or_allocation_is_reported_as_unallocated(gpu):
    # An idle GPU drawing 60 W for the whole hour: energy, time and embodied all unallocated.
    add_samples(gpu, end=T0 + HOUR, count=60, every_s=60.0, power_w=60.0, util_pct=0)
    rollup_dirty_hours()
    idle = parts(gpu, T0)[(None, "unallocated")]
    assert idle.energy_it_kwh == pytest.approx(0.06)
    assert idle.gpu_hours == pytest.approx(1.0)
    assert idle.embodied_kgco2e == pytest.approx(2.0)
    assert idle.project is None and idle.team is None


def test_a_tag_naming_an_unknown_project_counts_as_unallocated_with_a_note(gpu):
    add_samples(
        gpu,
        end=T0 + HOUR,
        every_s=3600.0,
        energy_j=3.6e6,
        tags=[{"project": "no-such-project", "share": 1.0}],
    )
    rollup_dirty_hours()
    assert parts(gpu, T0)[(None, "unallocated")].energy_it_kwh == pytest.approx(1.0)
    assert any("no-such-project" in n for n in fact(gpu, T0).factor_notes)


def test_a_late_sample_re_dirties_its_hour_and_updates_without_doubling(gpu):
    add_samples(gpu, end=T0 + timedelta(minutes=30), count=1800, power_w=1000.0)
    rollup_dirty_hours()
    assert fact(gpu, T0).energy_it_kwh == pytest.approx(0.5)
    # The second half of the hour arrives late (the agent was offline and spooled it).
    add_samples(gpu, end=T0 + HOUR, count=1800, power_w=1000.0)
    assert DirtyHour.objects.filter(device=gpu, hour=T0).exists()
    rollup_dirty_hours()
    assert fact(gpu, T0).energy_it_kwh == pytest.approx(1.0)
    assert fact(gpu, T0).coverage == pytest.approx(1.0)
    assert HourlyDeviceFact.objects.count() == 1
    assert HourlyProjectFact.objects.filter(device=gpu, hour=T0).count() == 1
    # And a rollup with nothing dirty changes nothing.
    assert rollup_dirty_hours().hours == 0
    assert fact(gpu, T0).energy_it_kwh == pytest.approx(1.0)


def test_a_sample_arriving_during_the_rollup_keeps_its_hour_dirty(gpu, monkeypatch):
    add_samples(gpu, end=T0 + timedelta(minutes=30), count=1800, power_w=1000.0)
    real_recompute = rollup._recompute

    def recompute_while_a_sample_arrives(claimed):
        counts = real_recompute(claimed)
        # What ingest does for a late sample, between our read and our release.
        add_samples(gpu, end=T0 + timedelta(minutes=45), count=1, every_s=900.0, energy_j=9e5)
        return counts

    monkeypatch.setattr(rollup, "_recompute", recompute_while_a_sample_arrives)
    rollup.rollup_batch(batch_size=10)
    assert DirtyHour.objects.filter(device=gpu, hour=T0).exists()
    monkeypatch.setattr(rollup, "_recompute", real_recompute)
    rollup_dirty_hours()
    assert fact(gpu, T0).energy_it_kwh == pytest.approx(0.75)


def test_a_counter_reset_and_a_gap_are_handled_as_the_agent_reports_them(gpu):
    # The agent sends energy per interval (counter differences). Around a driver reload the
    # counter restarts: the agent sends one interval with energy 0 (it cannot know what the
    # GPU used), then a gap of 2 minutes while the driver was down, then normal intervals.
    add_samples(gpu, end=T0 + timedelta(minutes=10), count=600, power_w=300.0)
    add_samples(gpu, end=T0 + timedelta(minutes=10, seconds=1), energy_j=0.0)
    # Gap: 10:10:01 .. 10:12:01 has no samples at all.
    add_samples(gpu, end=T0 + HOUR, count=2879, power_w=300.0)
    rollup_dirty_hours()
    f = fact(gpu, T0)
    measured_s = 600 + 1 + 2879
    assert f.measured_seconds == pytest.approx(measured_s)
    assert f.coverage == pytest.approx(measured_s / 3600)
    assert f.energy_it_kwh == pytest.approx(300.0 * (600 + 2879) / 3.6e6)
    # Embodied follows the measured time: the gap is not charged to the hour's parts.
    assert f.gpu_hours == pytest.approx(measured_s / 3600)
    assert RawSample.objects.filter(device=gpu, energy_j__lt=0).count() == 0


def test_factors_are_versioned_with_the_facts(gpu):
    add_samples(gpu, end=T0 + HOUR, every_s=3600.0, energy_j=3.6e6)
    rollup_dirty_hours()
    assert fact(gpu, T0).energy_facility_kwh == pytest.approx(1.5)
    site = gpu.host.site
    site.pue = 1.2
    site.save()
    # A recompute without refresh keeps the stored PUE: the same past numbers.
    recompute_facts(start=T0, end=T0 + HOUR)
    assert fact(gpu, T0).pue == 1.5
    assert fact(gpu, T0).energy_facility_kwh == pytest.approx(1.5)
    # A late sample in that hour is also priced with the hour's stored factors.
    # Asking for new factors applies them.
    recompute_facts(start=T0, end=T0 + HOUR, refresh_factors=True)
    assert fact(gpu, T0).pue == 1.2
    assert fact(gpu, T0).energy_facility_kwh == pytest.approx(1.2)
    assert fact(gpu, T0).operational_kgco2e == pytest.approx(1.2 * 0.4)
    assert_parts_add_up(gpu, T0)


def test_hours_older_than_raw_retention_are_repriced_from_stored_energy(gpu):
    add_samples(gpu, end=T0 + HOUR, count=3600, power_w=1000.0)
    rollup_dirty_hours()
    # Retention deleted part of the hour's samples; the facts are now the record.
    RawSample.objects.filter(device=gpu, ts__lt=T0 + timedelta(minutes=30)).delete()
    site = gpu.host.site
    site.pue = 2.0
    site.save()
    with override_settings(RAW_SAMPLE_RETENTION_DAYS=1):
        recompute_facts(start=T0, end=T0 + HOUR, refresh_factors=True)
    f = fact(gpu, T0)
    assert f.energy_it_kwh == pytest.approx(1.0)  # not halved
    assert f.energy_facility_kwh == pytest.approx(2.0)
    assert f.coverage == pytest.approx(1.0)


def test_a_late_sample_in_an_old_hour_still_counts(gpu):
    add_samples(gpu, end=T0 + timedelta(minutes=30), count=1800, power_w=1000.0)
    rollup_dirty_hours()
    add_samples(gpu, end=T0 + HOUR, count=1800, power_w=1000.0)
    with override_settings(RAW_SAMPLE_RETENTION_DAYS=1):
        rollup_dirty_hours()
    assert fact(gpu, T0).energy_it_kwh == pytest.approx(1.0)


def test_an_hour_whose_samples_are_gone_keeps_its_facts(gpu):
    add_samples(gpu, end=T0 + HOUR, every_s=3600.0, energy_j=3.6e6)
    rollup_dirty_hours()
    RawSample.objects.all().delete()
    recompute_facts(start=T0, end=T0 + HOUR)
    assert fact(gpu, T0).energy_it_kwh == pytest.approx(1.0)


def test_postgres_sums_equal_the_python_sums(gpu):
    if connection.vendor != "postgresql":
        pytest.skip("the set-based SQL path exists only on PostgreSQL")
    llm = make_project("llm")
    make_allocation(llm, gpu.host, start=T0 - HOUR, end=T0 + timedelta(minutes=20, seconds=7))
    # A 10-second allocation: samples of 97.5 s span the whole segment.
    vision = make_project("vision", team_name="CV")
    make_allocation(
        vision,
        gpu.host,
        start=T0 + timedelta(minutes=30),
        end=T0 + timedelta(minutes=30, seconds=10),
    )
    tags = [{"project": "llm", "share": 0.6}]
    add_samples(
        gpu,
        end=T0 + timedelta(minutes=1, seconds=30),
        count=9,
        every_s=17.0,
        power_w=250.0,
        util_pct=40,
    )
    add_samples(
        gpu,
        end=T0 + HOUR + timedelta(seconds=45),
        count=40,
        every_s=97.5,
        power_w=410.0,
        tags=tags,
        util_pct=90,
    )
    marks = list(DirtyHour.objects.order_by("id"))
    first_batch = marks[0].batch_id
    # Everything claimed; then only the first batch's marks (the second batch's samples are
    # left out of the sums: its waiting marks add them later).
    for claimed in (marks, [m for m in marks if m.batch_id == first_batch]):
        pairs = {}
        for row in marks:
            pairs[(gpu.pk, row.hour)] = rollup._Pair(
                gpu, row.hour, False, *_segments(gpu, row.hour)
            )
        ids = [row.pk for row in claimed]
        python_sums, python_rows = rollup._usage_sums_python(pairs, ids)
        sql_sums, sql_rows = rollup._usage_sums_sql(pairs, ids)
        assert python_rows == sql_rows
        assert set(python_sums) == set(sql_sums)
        for key, groups in python_sums.items():
            assert set(groups) == set(sql_sums[key])
            for group, usage in groups.items():
                other = sql_sums[key][group]
                assert other.energy_j == pytest.approx(usage.energy_j, rel=1e-9)
                assert other.seconds == pytest.approx(usage.seconds, rel=1e-9)
                assert other.util_pct_seconds == pytest.approx(usage.util_pct_seconds, rel=1e-9)
    assert python_rows == 9  # only the first batch's samples


def _segments(device, hour):
    from assessments.footprint import footprint_math as fm
    from assessments.models import Allocation

    cuts = []
    for a in Allocation.objects.filter(host=device.host):
        cuts += [a.start.timestamp()] + ([a.end.timestamp()] if a.end else [])
    segments = fm.segments_of_hour(hour.timestamp(), cuts)
    return segments, [() for _ in segments]


def test_an_hour_that_fails_is_left_dirty_and_does_not_hold_up_the_others(gpu, monkeypatch):
    other = make_device(gpu.host, index=1)
    add_samples(gpu, end=T0 + HOUR, every_s=60.0, energy_j=60.0)
    add_samples(other, end=T0 + HOUR, every_s=60.0, energy_j=60.0)
    real_recompute = rollup._recompute

    def fail_for_gpu(claimed):
        if any(row.device_id == gpu.pk for row in claimed):
            raise RuntimeError("simulated bug")
        return real_recompute(claimed)

    monkeypatch.setattr(rollup, "_recompute", fail_for_gpu)
    result = rollup_dirty_hours()
    assert result.failed == 1
    assert result.hours == 1
    assert HourlyDeviceFact.objects.filter(device=other).count() == 1
    assert list(DirtyHour.objects.values_list("device_id", flat=True)) == [gpu.pk]
    monkeypatch.setattr(rollup, "_recompute", real_recompute)
    assert rollup_dirty_hours().hours == 1
    assert DirtyHour.objects.count() == 0


def test_a_site_without_pue_or_price_uses_documented_defaults_and_says_so():
    site = make_site(name="unknown-site", pue=None, price=None)
    device = make_device(make_host(site))
    add_samples(device, end=T0 + HOUR, every_s=3600.0, energy_j=3.6e6)
    rollup_dirty_hours()
    f = fact(device, T0)
    assert f.pue == pytest.approx(1.56)  # industry average (Uptime Institute 2024)
    assert f.price_per_kwh == 0.0
    notes = " ".join(f.factor_notes)
    assert "no PUE" in notes and "no electricity price" in notes
    assert rollup_backlog() == {"dirty_hours": 0, "oldest_age_s": None}


def test_batches_are_bounded(gpu):
    for n in range(5):
        add_samples(gpu, end=T0 + (n + 1) * HOUR, every_s=60.0, energy_j=60.0)
    result = rollup_dirty_hours(batch_size=2)
    assert result.batches == 3
    assert result.hours == 5
    assert HourlyDeviceFact.objects.count() == 5


def test_a_grid_import_marks_its_hours_and_the_rollup_uses_the_new_values(gpu):
    add_samples(gpu, end=T0 + HOUR, every_s=3600.0, energy_j=3.6e6)
    rollup_dirty_hours()
    assert fact(gpu, T0).grid_gco2e_per_kwh == 400.0
    add_hourly_grid("TST-ZONE", T0, 100.0)
    assert mark_hours_for_recompute("TST-ZONE", T0, T0 + HOUR) == 1
    assert mark_hours_for_recompute("OTHER-ZONE", T0, T0 + HOUR) == 0
    rollup_dirty_hours()
    assert fact(gpu, T0).grid_gco2e_per_kwh == 100.0
    assert fact(gpu, T0).operational_kgco2e == pytest.approx(1.5 * 0.1)


def test_ingest_re_marking_an_hour_keeps_a_pending_refresh(gpu):
    add_samples(gpu, end=T0 + HOUR, every_s=3600.0, energy_j=3.6e6)
    mark_hours_for_recompute("TST-ZONE", T0, T0 + HOUR)
    add_samples(gpu, end=T0 + timedelta(minutes=90), every_s=60.0, energy_j=60.0)
    # Marks are appended: ingest's mark sits next to the pending refresh request.
    assert DirtyHour.objects.filter(device=gpu, hour=T0, refresh_factors=True).exists()
    assert DirtyHour.objects.filter(device=gpu, hour=T0, refresh_factors=False).exists()


def test_rollup_command_recomputes_a_period_with_new_factors(gpu):
    add_samples(gpu, end=T0 + HOUR, every_s=3600.0, energy_j=3.6e6)
    call_command("rollup", stdout=io.StringIO())
    site = gpu.host.site
    site.energy_price_per_kwh = 0.5
    site.save()
    out = io.StringIO()
    call_command("rollup", "--start", "2026-11-02", "--end", "2026-11-03", stdout=out)
    assert "(1 device facts" in out.getvalue()
    assert fact(gpu, T0).cost == pytest.approx(0.3)
    call_command(
        "rollup", "--start", "2026-11-02", "--end", "2026-11-03", "--refresh-factors", stdout=out
    )
    assert fact(gpu, T0).cost == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--refresh-factors"], "needs --start and --end"),
        (["--start", "2026-11-02"], "both --start and --end"),
        (["--start", "2026-11-03", "--end", "2026-11-02"], "after --start"),
        (["--start", "yesterday", "--end", "2026-11-02"], "--start: expected YYYY-MM-DD"),
    ],
)
def test_rollup_command_refuses_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("rollup", *args)
