"""A version's lifecycle footprint against the hand computation of scenario.py."""

from datetime import date

import pytest

from assessments.ai_systems import lifecycle_math as lm
from assessments.ai_systems.selectors import version_footprint
from tests.assessments.ai_systems.scenario import (
    EXPECTED,
    PERIOD,
    build_assistant,
    build_shared_project,
)

approx = pytest.approx


# --- pure arithmetic --------------------------------------------------------------------------


def test_amortisation_spreads_the_one_off_over_the_larger_of_planned_and_served():
    assert lm.amortised_one_off_per_request(5.2, 100_000, 60_000) == approx(5.2e-5)
    # Served more than planned: spread over what was served, never more than the one-off.
    assert lm.amortised_one_off_per_request(5.2, 20_000, 60_000) == approx(5.2 / 60_000)
    assert lm.amortised_one_off_per_request(5.2, None, 0) is None
    assert lm.amortised_one_off_per_request(5.2, 0, 40) == approx(0.13)


def test_lifecycle_per_thousand_requests_is_serving_plus_amortised_one_off():
    assert lm.lifecycle_kgco2e_per_1k_requests(5.8, 50_000, 5.2e-5) == approx(0.168)
    assert lm.lifecycle_kgco2e_per_1k_requests(5.8, 50_000, None) == approx(0.116)
    assert lm.lifecycle_kgco2e_per_1k_requests(5.8, 0, 5.2e-5) is None


def test_output_token_shares_and_idle_hours_split_equally():
    assert lm.output_token_shares({"a": 3e6, "b": 1e6}, ["a", "b"]) == {"a": 0.75, "b": 0.25}
    assert lm.output_token_shares({}, ["a", "b"]) == {"a": 0.5, "b": 0.5}
    assert lm.output_token_shares({"b": 2e6}, ["a", "b"]) == {"a": 0.0, "b": 1.0}


def test_figures_sum_and_scale():
    one = lm.Figures(
        energy_it_kwh=1.0,
        operational_kgco2e=0.6,
        embodied_kgco2e=2.0,
        work_units=10,
        work_unit="samples",
        coverage=0.5,
    )
    two = lm.Figures(
        energy_it_kwh=2.0,
        operational_kgco2e=1.2,
        embodied_kgco2e=4.0,
        work_units=5,
        work_unit="requests",
        coverage=0.9,
    )
    total = lm.figures_sum([one, two])
    assert total.energy_it_kwh == 3.0 and total.total_kgco2e == approx(7.8)
    assert total.work_unit is None and total.sci is None and total.coverage == 0.5
    assert one.scaled(0.25).total_kgco2e == approx(0.65) and one.sci == approx(0.26)


def test_windows_clip_and_cut():
    from datetime import UTC, datetime

    def d(day):
        return datetime(2026, 11, day, tzinfo=UTC)

    assert lm.clip(d(5), None, d(1), d(10)) == (d(5), d(10))
    assert lm.clip(d(1), d(3), d(3), d(10)) is None
    assert lm.segments(d(1), d(10), [d(1), d(4), d(12)]) == [(d(1), d(4)), (d(4), d(10))]
    assert lm.windows_overlap(d(1), None, d(20), d(21))
    assert not lm.windows_overlap(d(1), d(3), d(3), None)


# --- the hand-computed version ----------------------------------------------------------------


@pytest.mark.django_db
def test_the_version_footprint_agrees_with_the_hand_computation():
    _, _, second = build_assistant()
    result = version_footprint(second, **PERIOD)
    for part in ("one_off", "serving"):
        figures = getattr(result, part)
        expected = EXPECTED[part]
        assert figures.energy_it_kwh == approx(expected["energy_kwh"])
        assert figures.energy_facility_kwh == approx(expected["facility_energy_kwh"])
        assert figures.total_kgco2e == approx(expected["total_kgco2e"])
        assert figures.cost == approx(expected["cost"])
    assert result.requests == approx(EXPECTED["requests"])
    assert result.input_tokens == approx(EXPECTED["input_tokens"])
    assert result.output_tokens == approx(EXPECTED["output_tokens"])
    assert result.requests_to_date == approx(EXPECTED["requests_to_date"])
    assert result.amortised_one_off_kgco2e_per_request == approx(EXPECTED["amortised_per_request"])
    assert result.energy_kwh_per_1m_output_tokens == approx(
        EXPECTED["energy_kwh_per_1m_output_tokens"]
    )
    assert result.kgco2e_per_1k_requests == approx(EXPECTED["kgco2e_per_1k_requests"])
    assert result.lifecycle_kgco2e_per_1k_requests == approx(
        EXPECTED["lifecycle_kgco2e_per_1k_requests"]
    )
    assert result.lineage_lines == [EXPECTED["lineage"]]


@pytest.mark.django_db
def test_the_one_off_is_whole_whatever_the_period_and_never_more_than_itself():
    _, _, second = build_assistant()
    november = version_footprint(second, start=date(2026, 11, 1), end=date(2026, 12, 1))
    assert november.one_off.total_kgco2e == approx(5.2)
    assert november.serving.total_kgco2e == approx(2.6)
    assert november.requests == approx(20_000)
    second.planned_requests = 20_000
    served_more = version_footprint(second, **PERIOD)
    # 60,000 requests served > 20,000 planned: spread over 60,000.
    assert served_more.amortised_one_off_kgco2e_per_request == approx(5.2 / 60_000)
    assert served_more.amortised_one_off_kgco2e_per_request * served_more.requests_to_date <= (
        served_more.one_off.total_kgco2e + 1e-12
    )


@pytest.mark.django_db
def test_two_versions_on_one_project_split_its_figures_by_output_tokens():
    a, b = build_shared_project()
    period = {"start": date(2026, 11, 1), "end": date(2026, 12, 1)}
    first, second = version_footprint(a, **period), version_footprint(b, **period)
    assert first.serving.energy_it_kwh == approx(0.75)
    assert first.serving.total_kgco2e == approx(1.95)
    assert second.serving.energy_it_kwh == approx(1.25)
    assert second.serving.total_kgco2e == approx(3.25)
    assert first.output_tokens == approx(3_000_000) and first.requests == approx(300)
    assert second.output_tokens == approx(3_000_000) and second.requests == approx(300)
    # Nothing lost, nothing counted twice.
    assert first.serving.total_kgco2e + second.serving.total_kgco2e == approx(5.2)
