"""footprint_math with plain numbers: every rule of docs/methodology.md checked by hand."""

from datetime import UTC, datetime, timedelta

import pytest

from assessments.footprint import footprint_math as fm

H = 3600.0
T = 1_793_000_000.0 - (1_793_000_000.0 % H)  # an hour boundary (epoch seconds)
FACTORS = fm.HourFactors(
    pue=1.5, grid_gco2e_per_kwh=400.0, price_per_kwh=0.2, embodied_kgco2e_per_hour=2.0
)


# --- published examples ------------------------------------------------------------------


def test_gsf_eshoppen_sci_is_26_178_g_per_request():
    # GSF case study "eshoppen": M = 1205.52 kg x (1/35040) x (2/16) and SCI = E x I + M.
    embodied_kg = fm.embodied_for_hours(fm.embodied_kg_per_hour(0, None, 1205.52, 4, 1) * 2 / 16, 1)
    assert embodied_kg * 1000 == pytest.approx(4.3005, abs=1e-4)  # the study rounds to 4.305 g
    # The study multiplies I = 951 g/kWh by E rounded to 0.023 kWh (its E is 0.02394 kWh) and
    # adds M = 4.305 g: 21.873 + 4.305 = 26.178 g per R (R = 1).
    operational_kg = 0.023 * 951 / 1000
    assert fm.sci(operational_kg, 4.305 / 1000, 1) * 1000 == pytest.approx(26.178, abs=1e-9)
    # With E unrounded the same formula gives 27.072 g: the published figure rounds E.
    assert fm.sci(0.02394 * 951 / 1000, 4.305 / 1000, 1) * 1000 == pytest.approx(27.072, abs=1e-3)


def test_sci_spec_embodied_example_is_28_5_g():
    # TE 1000 kg, 4-year life, 1 hour reserved, whole machine (RS = 1).
    per_hour = fm.embodied_kg_per_hour(0, None, 1000, 4, 1)
    assert fm.embodied_for_hours(per_hour, 1) * 1000 == pytest.approx(28.54, abs=0.01)


def test_sci_is_null_without_work_units():
    assert fm.sci(1.0, 1.0, 0) is None
    assert fm.sci(1.0, 0.5, 3) == pytest.approx(0.5)


# --- splitting intervals -------------------------------------------------------------------


def test_an_interval_straddling_an_hour_touches_both_hours():
    assert fm.hours_touched(T + 30, 60) == [T - H, T]
    assert fm.hours_touched(T, 60) == [T - H]  # ends exactly on the boundary: earlier hour only
    assert fm.hours_touched(T + 1, 1) == [T]


def test_an_interval_splits_pro_rata_by_time():
    segments = fm.segments_of_hour(T - H, []) + fm.segments_of_hour(T, [])
    parts = fm.split_sample(T + 15, 60, 600.0, segments)
    assert parts == [(0, 45.0, 450.0), (1, 15.0, 150.0)]


def test_segments_cut_an_hour_at_allocation_boundaries_inside_it():
    assert fm.segments_of_hour(T, [T - 10, T + 900, T + H, T + 900]) == [
        (T, T + 900),
        (T + 900, T + H),
    ]


def test_a_sample_without_duration_keeps_its_energy():
    segments = fm.segments_of_hour(T, [])
    assert fm.split_sample(T + H, 0, 5.0, segments) == [(0, 0.0, 5.0)]
    assert fm.hours_touched(T + H, 0) == [T]


# --- attribution -----------------------------------------------------------------------------


def _usage(tags=(), allocated=(), energy=1000.0, seconds=100.0):
    return fm.Usage(tuple(tags), tuple(allocated), energy, seconds)


def test_a_shared_gpu_splits_70_30_by_tags():
    tags, _ = fm.parse_tags([{"project": "a", "share": 0.7}, {"project": "b", "share": 0.3}])
    parts, notes = fm.attribute([_usage(tags)], {"a", "b"})
    by_project = {p.project: p for p in parts}
    assert by_project["a"].energy_j == pytest.approx(700)
    assert by_project["a"].seconds == pytest.approx(70)
    assert by_project["b"].energy_j == pytest.approx(300)
    assert set(by_project) == {"a", "b"}  # nothing left over: no unallocated part
    assert notes == []


def test_untagged_rest_follows_the_allocation_and_then_unallocated():
    tags, _ = fm.parse_tags([{"project": "a", "share": 0.4}])
    parts, _ = fm.attribute([_usage(tags, allocated=("c",))], {"a", "c"})
    assert {(p.project, p.attribution): p.energy_j for p in parts} == pytest.approx(
        {("a", "tag"): 400.0, ("c", "allocation"): 600.0}
    )
    parts, _ = fm.attribute([_usage(tags)], {"a"})
    assert {(p.project, p.attribution): p.energy_j for p in parts} == pytest.approx(
        {("a", "tag"): 400.0, (None, "unallocated"): 600.0}
    )


def test_overlapping_allocations_split_equally_with_a_note():
    parts, notes = fm.attribute([_usage(allocated=("a", "b"))], {"a", "b"})
    assert [p.energy_j for p in parts] == pytest.approx([500.0, 500.0])
    assert notes == ["overlapping allocations (a, b) split equally"]


def test_an_unknown_project_tag_is_unallocated_never_dropped():
    tags, _ = fm.parse_tags([{"project": "ghost", "share": 1.0}])
    parts, notes = fm.attribute([_usage(tags)], {"a"})
    assert [(p.project, p.attribution, p.energy_j) for p in parts] == [
        (None, "unallocated", 1000.0)
    ]
    assert "ghost" in notes[0]


def test_tag_shares_over_one_are_scaled_and_missing_shares_share_the_rest():
    tags, notes = fm.parse_tags([{"project": "a", "share": 0.8}, {"project": "b", "share": 0.8}])
    assert [t.share for t in tags] == pytest.approx([0.5, 0.5])
    assert notes
    tags, notes = fm.parse_tags([{"project": "a", "share": 0.5}, {"project": "b"}])
    assert [t.share for t in tags] == pytest.approx([0.5, 0.5])
    assert notes == []


def test_the_phase_of_a_part_is_the_phase_most_of_its_energy_was_tagged_with():
    u1 = _usage(fm.parse_tags([{"project": "a", "phase": "training", "share": 1}])[0], energy=10)
    u2 = _usage(fm.parse_tags([{"project": "a", "phase": "evaluation", "share": 1}])[0], energy=3)
    parts, _ = fm.attribute([u1, u2], {"a"})
    assert parts[0].phase == "training"
    assert parts[0].energy_j == pytest.approx(13)


# --- facts arithmetic ------------------------------------------------------------------------


def test_pue_grid_price_and_embodied_apply_to_a_part():
    figures = fm.figures_for(2.0, 0.5, FACTORS)
    assert figures.energy_facility_kwh == pytest.approx(3.0)  # 2 kWh x PUE 1.5
    assert figures.operational_kgco2e == pytest.approx(1.2)  # 3 kWh x 400 g / 1000
    assert figures.cost == pytest.approx(0.6)  # 3 kWh x 0.20
    assert figures.embodied_kgco2e == pytest.approx(1.0)  # 2 kg/h x 0.5 h
    assert figures.total_kgco2e == pytest.approx(2.2)


def test_project_parts_sum_to_the_device_figures():
    device, parts = fm.device_hour_figures([(0.7, 0.7), (0.2, 0.2), (0.1, 0.1)], FACTORS)
    for name in fm.Figures.__dataclass_fields__:
        assert sum(getattr(p, name) for p in parts) == pytest.approx(getattr(device, name))
    assert device.energy_it_kwh == pytest.approx(1.0)
    assert device.embodied_kgco2e == pytest.approx(2.0)


def test_time_beyond_one_hour_is_capped_so_embodied_is_not_charged_twice():
    device, parts = fm.device_hour_figures([(0.5, 0.9), (0.5, 0.3)], FACTORS)
    assert device.gpu_hours == pytest.approx(1.0)
    assert [p.gpu_hours for p in parts] == pytest.approx([0.75, 0.25])
    assert device.energy_it_kwh == pytest.approx(1.0)  # energy is kept


def test_joules_to_kwh():
    assert fm.joules_to_kwh(3.6e6) == 1.0


def test_coverage_is_capped_and_null_without_expectation():
    assert fm.coverage(1800, 3600) == 0.5
    assert fm.coverage(4000, 3600) == 1.0
    assert fm.coverage(10, 0) is None


def test_mean_utilisation_is_time_weighted():
    sums = fm.UsageSums()
    sums.add(1.0, 30, 100)
    sums.add(1.0, 90, 0)
    sums.add(1.0, 60, None)
    assert fm.mean_util_pct(sums.util_pct_seconds, sums.util_seconds) == pytest.approx(25)
    assert fm.mean_util_pct(0, 0) is None


# --- work units and in-service time ---------------------------------------------------------


D0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_work_units_are_counted_pro_rata_over_the_period():
    # 100 units over 10 days, 4 of which fall in the period.
    assert fm.prorated_units(
        100, D0 - timedelta(days=6), D0 + timedelta(days=4), D0, D0 + timedelta(days=30)
    ) == pytest.approx(40)
    assert fm.prorated_units(5, D0, D0, D0, D0 + timedelta(days=1)) == 5  # an instant inside
    assert fm.prorated_units(5, D0, D0, D0 - timedelta(days=1), D0) == 0  # end is exclusive


def test_a_record_counts_by_the_share_of_its_interval_inside_the_period():
    day = timedelta(days=1)
    # 24 units from 18:00 on 31 Oct to 18:00 on 1 Nov: 6 h of 24 fall on 31 Oct, 18 on 1 Nov.
    start, end = D0 - timedelta(hours=6), D0 + timedelta(hours=18)
    assert fm.prorated_units(24, start, end, D0 - day, D0) == pytest.approx(6)
    assert fm.prorated_units(24, start, end, D0, D0 + day) == pytest.approx(18)
    # A week of 700 units read over its middle 3.5 days: 350.
    week = (D0, D0 + 7 * day)
    assert fm.prorated_units(700, *week, D0 + 2 * day, D0 + 5.5 * day) == pytest.approx(350)
    # Wholly inside, wholly outside, and touching the period only at an edge.
    assert fm.prorated_units(9, D0, D0 + day, D0 - day, D0 + 2 * day) == 9
    assert fm.prorated_units(9, D0 + 3 * day, D0 + 4 * day, D0, D0 + day) == 0
    assert fm.prorated_units(9, D0 - day, D0, D0, D0 + day) == 0
    # Adjacent periods share a record's units exactly, whatever the cut.
    cut = D0 + timedelta(hours=7, minutes=30)
    parts = (
        fm.prorated_units(700, *week, D0 - day, cut),
        fm.prorated_units(700, *week, cut, D0 + 30 * day),
    )
    assert parts == (pytest.approx(31.25), pytest.approx(668.75))


def test_an_instantaneous_record_counts_in_the_half_open_period_holding_it():
    day = timedelta(days=1)
    # At a period's start it is that period's; at its end, the next period's; never both.
    assert fm.prorated_units(5, D0, D0, D0, D0 + day) == 5
    assert fm.prorated_units(5, D0 + day, D0 + day, D0, D0 + day) == 0
    assert fm.prorated_units(5, D0 + day, D0 + day, D0 + day, D0 + 2 * day) == 5
    assert fm.prorated_units(5, D0 + timedelta(hours=3), D0 + timedelta(hours=3), D0, D0 + day) == 5


def test_a_scope_has_one_unit_or_no_sci():
    assert fm.common_unit(["tokens", "tokens"]) == "tokens"
    assert fm.common_unit([]) == ""
    assert fm.common_unit(["tokens", "images"]) is None
    # (0.3 + 0.1) kgCO2e over 200 + 300 units: 0.0008 kgCO2e per unit.
    assert fm.scope_sci(0.3, 0.1, [200, 300], "tokens") == pytest.approx(0.0008)
    assert fm.scope_sci(0.3, 0.1, [200, 300], None) is None  # different units: no SCI
    assert fm.scope_sci(0.3, 0.1, [], "tokens") is None  # no work recorded


def test_in_service_hours_overlap_the_period():
    assert fm.in_service_hours(
        D0 - timedelta(days=100), D0 + timedelta(hours=5), D0, D0 + timedelta(days=1)
    ) == pytest.approx(5)
    assert fm.in_service_hours(D0 + timedelta(days=2), D0 + timedelta(days=3), D0, D0) == 0


def test_tag_phases_are_normalised_to_known_values():
    known = {"fine_tuning", "data_preparation", "training"}
    assert fm.normalise_phase("Fine-tuning", known) == "fine_tuning"
    assert fm.normalise_phase(" data preparation ", known) == "data_preparation"
    assert fm.normalise_phase("pretraining-v2", known) is None
