"""Each recommendation rule on a crafted history, with its saving computed by hand."""

from datetime import UTC, datetime, timedelta

import pytest

from assessments.decisions import recommendation_rules as rules
from assessments.decisions.technique_savings import technique_saving

T0 = datetime(2026, 11, 1, tzinfo=UTC)
TEN_DAYS = rules.Period(T0, T0 + timedelta(days=10))  # totals x 3 = a 30-day month
ONE_DAY = rules.Period(T0, T0 + timedelta(days=1))  # totals x 30


def device_hour(device_id, hour, *, util=80.0, it_kwh=0.1, host_id=1, limit=None, seconds=3600):
    # PUE 1.5, 400 gCO2e/kWh, 0.20 per kWh, 0.01 kg embodied per hour.
    facility = it_kwh * 1.5
    return rules.DeviceHour(
        device_id=device_id,
        device_label=f"node-{host_id} GPU {device_id}",
        host_id=host_id,
        host_label=f"node-{host_id}",
        hour=T0 + timedelta(hours=hour),
        util_pct=util,
        measured_seconds=seconds,
        coverage=seconds / 3600,
        energy_it_kwh=it_kwh,
        energy_facility_kwh=facility,
        operational_kgco2e=facility * 0.4,
        embodied_kgco2e=0.01,
        cost=facility * 0.2,
        pue=1.5,
        grid_gco2e_per_kwh=400.0,
        price_per_kwh=0.2,
        power_limit_w=limit,
    )


def project_hour(
    project_id,
    device_id,
    hour,
    *,
    phase="training",
    facility=None,
    site_id=1,
    it_kwh=0.1,
    gpu_hours=1.0,
):
    facility = it_kwh * 1.5 if facility is None else facility
    return rules.ProjectHour(
        project_id=project_id,
        project_label=f"project-{project_id}",
        phase=phase,
        device_id=device_id,
        hour=T0 + timedelta(hours=hour),
        site_id=site_id,
        energy_it_kwh=it_kwh,
        energy_facility_kwh=facility,
        operational_kgco2e=facility * 0.4,
        embodied_kgco2e=0.01 * gpu_hours,
        cost=facility * 0.2,
        gpu_hours=gpu_hours,
    )


# --- Idle GPUs ---------------------------------------------------------------------------------


def test_idle_gpu_counts_only_long_idle_stretches_and_scales_to_a_month():
    # 10 busy, 8 idle, 1 busy, 2 idle (too short), 1 busy, 6 idle hours: 14 idle hours count.
    pattern = [80] * 10 + [2] * 8 + [80] + [3] * 2 + [80] + [1] * 6
    hours = [
        device_hour(7, h, util=u, it_kwh=0.05 if u < 5 else 0.3) for h, u in enumerate(pattern)
    ]
    busy_device = [device_hour(8, h) for h in range(28)]

    [candidate] = rules.idle_gpus(hours + busy_device, period=TEN_DAYS)

    assert candidate.device_id == 7
    assert candidate.fingerprint == "idle_gpu:host:1"
    assert candidate.evidence["idle_gpu_hours"] == 14
    assert candidate.evidence["longest_idle_stretch_hours"] == 8
    assert candidate.evidence["idle_mean_power_w"] == pytest.approx(50.0)
    # 14 h x 0.05 kWh x PUE 1.5 = 1.05 kWh in 10 days -> 3.15 kWh a month.
    assert candidate.monthly_facility_energy_kwh == pytest.approx(3.15)
    assert candidate.monthly_cost == pytest.approx(1.05 * 0.2 * 3)
    # Operational 1.05 x 0.4 = 0.42 kg plus embodied 14 x 0.01 = 0.14 kg -> 0.56 x 3.
    assert candidate.monthly_kgco2e == pytest.approx(1.68)


def test_idle_gpus_of_one_host_make_one_recommendation():
    hours = [device_hour(d, h, util=1, it_kwh=0.05) for d in (1, 2) for h in range(12)]
    hours += [device_hour(3, h, util=1, it_kwh=0.05, host_id=2) for h in range(12)]

    first, second = sorted(rules.idle_gpus(hours, period=TEN_DAYS), key=lambda c: c.host_id)

    assert first.target == "node-1 (2 GPUs)"
    assert first.device_id is None
    assert first.evidence["idle_hours_per_device"] == {"node-1 GPU 1": 12, "node-1 GPU 2": 12}
    assert first.monthly_facility_energy_kwh == pytest.approx(24 * 0.075 * 3)
    assert second.device_id == 3


def test_a_missing_hour_breaks_an_idle_stretch():
    hours = [device_hour(7, h, util=1, it_kwh=0.05) for h in range(20) if h not in (3, 10, 16)]

    # Stretches 0-2, 4-9, 11-15, 17-19: only 6 + 5 = 11 hours in stretches of 4+: under 12.
    assert rules.idle_gpus(hours, period=TEN_DAYS) == []


# --- Low utilisation ---------------------------------------------------------------------------


def test_low_utilisation_consolidates_four_gpus_at_20_percent_onto_two():
    device_hours, project_hours = [], []
    for device in range(1, 5):
        for h in range(24):
            it_kwh = 0.06 if h == 5 else 0.1  # the floor: 60 W
            device_hours.append(device_hour(device, h, util=20, it_kwh=it_kwh))
            project_hours.append(project_hour(42, device, h, it_kwh=it_kwh))

    [candidate] = rules.low_utilisation(project_hours, device_hours, period=ONE_DAY)

    # n = 4 GPUs, u = 20%: k = ceil(4 x 0.2 / 0.7) = 2, freed share 0.5.
    assert candidate.evidence["gpus_needed_at_target"] == 2
    assert candidate.evidence["freed_share_pct"] == 50.0
    assert candidate.evidence["floor_power_w"] == pytest.approx(60.0)
    # 96 GPU-hours x 0.06 kW x 0.5 x PUE 1.5 = 4.32 kWh a day -> x 30.
    assert candidate.monthly_facility_energy_kwh == pytest.approx(129.6)
    assert candidate.monthly_cost == pytest.approx(129.6 * 0.2)
    # 4.32 kWh x 0.4 kg/kWh + 96 x 0.01 kg x 0.5 embodied = 2.208 kg a day.
    assert candidate.monthly_kgco2e == pytest.approx(2.208 * 30)


def test_well_utilised_or_single_gpu_projects_are_not_consolidated():
    device_hours = [device_hour(1, h, util=80) for h in range(24)]
    device_hours += [device_hour(2, h, util=10) for h in range(24)]
    project_hours = [project_hour(1, 1, h) for h in range(24)]  # 80%: fine
    project_hours += [project_hour(2, 2, h) for h in range(24)]  # one GPU at 10%: needs one

    assert rules.low_utilisation(project_hours, device_hours, period=ONE_DAY) == []


# --- Power caps --------------------------------------------------------------------------------


def test_power_cap_applies_the_cited_midpoint_to_training_hours_near_the_limit():
    device_hours, project_hours = [], []
    for device in (1, 2):
        for h in range(40):
            it_kwh = 0.36 if h < 30 else 0.2  # 360 W of 400 W (90%) for 30 h, then 200 W
            device_hours.append(device_hour(device, h, it_kwh=it_kwh, limit=400, host_id=5))
            project_hours.append(project_hour(9, device, h, it_kwh=it_kwh))
    # An inference host near its limit is no power-cap case here.
    device_hours += [device_hour(3, h, it_kwh=0.39, limit=400, host_id=6) for h in range(40)]
    project_hours += [project_hour(10, 3, h, phase="inference", it_kwh=0.39) for h in range(40)]

    [candidate] = rules.power_caps(
        project_hours, device_hours, period=TEN_DAYS, saving=technique_saving("power_cap")
    )

    assert candidate.host_id == 5
    assert candidate.project_id == 9
    assert candidate.evidence["hours_near_limit"] == 60
    assert candidate.evidence["mean_power_w"] == pytest.approx(360.0)
    assert "300 W" in candidate.action  # 75% of 400 W
    # 60 h x 0.54 kWh facility x 15% (midpoint of 10-20%) x 3.
    assert candidate.monthly_facility_energy_kwh == pytest.approx(60 * 0.54 * 0.15 * 3)
    assert candidate.monthly_cost == pytest.approx(60 * 0.108 * 0.15 * 3)
    assert candidate.monthly_kgco2e == pytest.approx(60 * 0.216 * 0.15 * 3)
    assert "Zeus" in candidate.evidence["source"]


def test_power_cap_needs_a_known_limit_and_enough_hours():
    device_hours = [device_hour(1, h, it_kwh=0.39, limit=None) for h in range(40)]
    device_hours += [device_hour(2, h, it_kwh=0.39, limit=400, host_id=2) for h in range(10)]
    project_hours = [project_hour(1, 1, h) for h in range(40)]
    project_hours += [project_hour(1, 2, h) for h in range(10)]

    saving = technique_saving("power_cap")
    assert rules.power_caps(project_hours, device_hours, period=TEN_DAYS, saving=saving) == []


# --- Carbon-aware timing ----------------------------------------------------------------------


def series_for_days(days, *, clean_hours=range(0, 6), clean=100.0, dirty=500.0):
    return {
        T0 + timedelta(days=d, hours=h): (clean if h in clean_hours else dirty)
        for d in range(days)
        for h in range(24)
    }


def test_carbon_aware_timing_shifts_a_daily_run_to_the_cleanest_window():
    # Training 09:00-12:59 each day, 1 kWh an hour, at 500 g; 00:00-05:59 are at 100 g.
    facts = [
        project_hour(3, 1, day * 24 + h, facility=1.0) for day in range(2) for h in range(9, 13)
    ]
    inference = [project_hour(4, 2, h, phase="inference", facility=1.0) for h in range(9, 13)]
    period = rules.Period(T0, T0 + timedelta(days=2))

    [candidate] = rules.carbon_aware_timing(
        facts + inference, {1: series_for_days(2)}, period=period
    )

    # Each day: 4 kWh x 500 g = 2.0 kg now, 4 x 100 g = 0.4 kg shifted: 1.6 kg saved a day.
    assert candidate.evidence["movable_energy_now_kgco2e"] == pytest.approx(4.0)
    assert candidate.evidence["movable_energy_shifted_kgco2e"] == pytest.approx(0.8)
    assert candidate.evidence["shift_hours"] == -7  # 09:00-12:59 -> 02:00-05:59: the least move
    assert "7 h earlier" in candidate.action
    assert candidate.monthly_kgco2e == pytest.approx(3.2 * 15)
    assert candidate.monthly_facility_energy_kwh == 0
    assert candidate.monthly_cost == 0


def test_carbon_aware_timing_moves_only_the_energy_above_an_all_day_floor():
    # Allocated all day at 0.2 kWh an hour; the job adds 1 kWh an hour from 09:00 to 12:59.
    facts = [
        project_hour(3, 1, h, facility=1.2 if 9 <= h < 13 else 0.2, phase="evaluation")
        for h in range(24)
    ]

    [candidate] = rules.carbon_aware_timing(facts, {1: series_for_days(1)}, period=ONE_DAY)

    assert candidate.evidence["movable_facility_energy_kwh"] == pytest.approx(4.0)
    # 4 kWh x (500 - 100) g = 1.6 kg a day.
    assert candidate.monthly_kgco2e == pytest.approx(1.6 * 30)


def test_carbon_aware_timing_skips_days_without_a_full_hourly_series_and_round_the_clock_runs():
    partial = series_for_days(1)
    del partial[T0 + timedelta(hours=3)]
    daily_run = [project_hour(3, 1, h, facility=1.0) for h in range(9, 13)]
    all_day = [project_hour(5, 2, h, facility=1.0, site_id=2) for h in range(24)]
    series = {1: partial, 2: series_for_days(1)}

    assert rules.carbon_aware_timing(daily_run + all_day, series, period=ONE_DAY) == []


def test_a_nightly_job_across_midnight_shifts_as_one_schedule():
    # 23:00-02:59 at 1 kWh an hour; the grid is cleanest 11:00-14:59 (100 g, else 400 g).
    grid = [100.0 if 11 <= h < 15 else 400.0 for h in range(24)]
    kwh = [1.0 if h >= 23 or h < 3 else 0.0 for h in range(24)]

    shift, grams = rules.best_daily_shift([(kwh, grid)])

    assert shift == 12 - 24  # 12 h later is 12 h earlier on a daily cycle: -12
    assert grams == pytest.approx(400.0)
    assert rules.shifted_grams([(kwh, grid)], 0) == pytest.approx(1600.0)


# --- Site choice -------------------------------------------------------------------------------

SITES = [
    rules.SiteFactors(1, "paris", pue=1.5, gco2e_per_kwh=400, price_per_kwh=0.20, sources="s"),
    rules.SiteFactors(2, "stockholm", pue=1.1, gco2e_per_kwh=50, price_per_kwh=0.25, sources="s"),
    rules.SiteFactors(3, "iowa", pue=1.2, gco2e_per_kwh=300, price_per_kwh=0.10, sources="s"),
]


def test_site_choice_proposes_the_cleanest_other_site():
    facts = [project_hour(1, 1, h, it_kwh=10.0, site_id=1) for h in range(10)]  # 100 kWh IT

    [candidate] = rules.site_choice(facts, SITES, period=TEN_DAYS)

    # Paris: 150 kWh, 60 kg, 30.00; Stockholm: 110 kWh, 5.5 kg, 27.50.
    assert candidate.evidence["proposed_site"] == "stockholm"
    assert candidate.monthly_facility_energy_kwh == pytest.approx(40 * 3)
    assert candidate.monthly_kgco2e == pytest.approx(54.5 * 3)
    assert candidate.monthly_cost == pytest.approx(2.5 * 3)


def test_site_choice_never_proposes_a_cheaper_but_dirtier_site():
    facts = [project_hour(1, 1, h, it_kwh=10.0, site_id=2) for h in range(10)]

    # Iowa would be cheaper than Stockholm (12.00 against 27.50) but emit 36 kg, not 5.5 kg.
    assert rules.site_choice(facts, SITES, period=TEN_DAYS) == []


# --- Optimisation candidates -------------------------------------------------------------------


def project_month(project_id, *, phase="inference", optimised=False, energy=300.0):
    return rules.ProjectMonth(
        project_id=project_id,
        project_label=f"project-{project_id}",
        phase=phase,
        work_unit="inferences",
        energy_facility_kwh=energy,
        operational_kgco2e=100.0,
        kgco2e=120.0,
        cost=60.0,
        units=1_000_000,
        has_optimisation=optimised,
    )


def test_optimisation_candidates_are_unoptimised_inference_projects_with_the_what_if_saving():
    projects = [
        project_month(1),
        project_month(2, optimised=True),
        project_month(3, phase="training"),
        project_month(4, energy=0.0),
    ]

    [candidate] = rules.optimisation_candidates(
        projects, period=TEN_DAYS, saving=technique_saving("quantisation")
    )

    assert candidate.project_id == 1
    # Midpoint of 10-40% is 25%: 300 kWh x 0.25 x 3.
    assert candidate.monthly_facility_energy_kwh == pytest.approx(225.0)
    assert candidate.monthly_cost == pytest.approx(45.0)
    assert candidate.monthly_kgco2e == pytest.approx(90.0)
    assert candidate.evidence["facility_energy_wh_per_unit"] == pytest.approx(0.3)
    assert "Jacob" in candidate.evidence["source"]


# --- Hardware lifetime -------------------------------------------------------------------------


def test_hardware_lifetime_saves_one_over_l_plus_one_of_embodied_carbon():
    hosts = [
        rules.HostLife(
            1,
            "node-1",
            operational_kgco2e=10,
            embodied_kgco2e=30,
            lifetime_years=4,
            lifetime_source="inventory",
            mean_util_pct=30,
        ),
        rules.HostLife(
            2,
            "node-2",
            operational_kgco2e=50,
            embodied_kgco2e=30,
            lifetime_years=4,
            lifetime_source="inventory",
            mean_util_pct=30,
        ),
    ]

    [candidate] = rules.hardware_lifetime(hosts, period=TEN_DAYS)

    assert candidate.host_id == 1
    # 30 kg in 10 days = 90 kg a month; 5 years instead of 4 cuts it by 1/5.
    assert candidate.monthly_kgco2e == pytest.approx(18.0)
    assert candidate.monthly_facility_energy_kwh == 0
    assert candidate.evidence["embodied_per_unit_reduction_at_target_util_pct"] == 50.0


# --- Dismissed recommendations -----------------------------------------------------------------


def test_small_changes_are_not_material_but_a_quarter_is():
    assert not rules.changed_materially((100.0, 20.0, 40.0), (110.0, 22.0, 44.0))
    assert rules.changed_materially((100.0, 20.0, 40.0), (130.0, 20.0, 40.0))
    assert rules.changed_materially((100.0, 20.0, 40.0), (100.0, 20.0, 20.0))
    # Figures under one unit are noise.
    assert not rules.changed_materially((0.2, 0.0, 0.1), (0.6, 0.0, 0.3))


def test_evidence_digest_is_stable_and_order_independent():
    assert rules.evidence_digest({"a": 1, "b": [1, 2]}) == rules.evidence_digest(
        {"b": [1, 2], "a": 1}
    )
    assert rules.evidence_digest({"a": 1}) != rules.evidence_digest({"a": 2})
