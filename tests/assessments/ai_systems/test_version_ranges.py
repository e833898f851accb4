"""A version's ranges: each part's project range times its share, summed; the per-request
figures at the low and at the high (docs/methodology.md, "Ranges"), against scenario.py's hand
computation."""

import pytest
from django.contrib.auth.models import User

from assessments.ai_systems import lifecycle_math as lm
from assessments.ai_systems.selectors import version_footprint
from assessments.footprint import ranges_math as rm
from assessments.models import UserProfile
from tests.assessments.ai_systems.factories import team
from tests.assessments.ai_systems.scenario import (
    EXPECTED,
    EXPECTED_RANGES,
    PERIOD,
    PERIOD_QUERY,
    bound_the_pue,
    build_assistant,
    build_shared_project,
    take_meters_as_exact,
)

approx = pytest.approx
API_NAMES = {
    "energy_kwh": "energy_it_kwh",
    "facility_energy_kwh": "energy_facility_kwh",
    "operational_kgco2e": "operational_kgco2e",
    "embodied_kgco2e": "embodied_kgco2e",
    "total_kgco2e": "total_kgco2e",
    "cost": "cost",
}
PER_REQUEST = (
    "amortised_one_off_kgco2e_per_request",
    "energy_kwh_per_1m_output_tokens",
    "kgco2e_per_1k_requests",
    "lifecycle_kgco2e_per_1k_requests",
)


@pytest.fixture
def exact_measurements(monkeypatch):
    """Meters taken as exact, so that the PUE is the only bounded input."""
    take_meters_as_exact(monkeypatch)


# --- pure arithmetic --------------------------------------------------------------------------


def test_a_share_scales_the_bounds_and_a_sum_adds_them():
    assert rm.scaled_bounds(rm.Bounds(2.0, 4.0), 0.25) == rm.Bounds(0.5, 1.0)
    assert rm.summed_bounds([rm.Bounds(1.0, 2.0), rm.Bounds(3.0, 5.0)]) == rm.Bounds(4.0, 7.0)
    assert rm.summed_bounds([]) == rm.Bounds(0.0, 0.0)
    bounded = lm.Figures(
        operational_kgco2e=1.0,
        embodied_kgco2e=2.0,
        work_units=4,
        work_unit="requests",
        ranges={
            "operational_kgco2e": rm.Bounds(0.8, 1.2),
            "total_kgco2e": rm.Bounds(2.8, 3.2),
        },
    )
    exact = lm.Figures(
        operational_kgco2e=0.5, embodied_kgco2e=0.5, work_units=1, work_unit="requests"
    )
    total = lm.figures_sum([bounded.scaled(0.5), exact])
    assert total.bounds("operational_kgco2e") == rm.Bounds(approx(0.9), approx(1.1))
    assert total.bounds("total_kgco2e") == rm.Bounds(approx(2.4), approx(2.6))
    # A figure without bounds in any part is exact; SCI's range is total's over the units.
    assert total.bounds("embodied_kgco2e") == rm.Bounds(1.5, 1.5)
    assert total.all_ranges["sci"] == rm.Bounds(approx(2.4 / 5), approx(2.6 / 5))


def test_lifecycle_bounds_are_serving_plus_amortised_one_off_at_each_end():
    bounds = lm.lifecycle_bounds(
        rm.Bounds(5.44, 6.16), rm.Bounds(4.96, 5.44), 50_000, 100_000, 60_000
    )
    assert (bounds.low, bounds.high) == (approx(0.1584), approx(0.1776))
    assert lm.lifecycle_bounds(rm.Bounds(1, 2), rm.Bounds(1, 2), 0, 100, 0) is None


# --- the hand-computed version ----------------------------------------------------------------


def assert_ranges(result, expected_ranges):
    for part in ("one_off", "serving"):
        figures = getattr(result, part)
        for name, (low, high) in expected_ranges[part].items():
            bounds = figures.bounds(API_NAMES[name])
            assert (bounds.low, bounds.high) == (approx(low), approx(high)), (part, name)
    for name in PER_REQUEST:
        low, high = expected_ranges[name]
        assert (result.ranges[name].low, result.ranges[name].high) == (
            approx(low),
            approx(high),
        ), name


@pytest.mark.django_db
def test_a_bounded_pue_gives_the_hand_computed_lows_and_highs(exact_measurements):
    _, _, second = build_assistant()
    bound_the_pue()
    result = version_footprint(second, **PERIOD)
    assert_ranges(result, EXPECTED_RANGES)
    # The values stay those of the facts.
    assert result.lifecycle_kgco2e_per_1k_requests == approx(
        EXPECTED["lifecycle_kgco2e_per_1k_requests"]
    )
    sci = result.serving.all_ranges["sci"]
    assert (sci.low, sci.high) == (approx(5.44 / 50_000), approx(6.16 / 50_000))


@pytest.mark.django_db
def test_without_bounds_anywhere_low_equals_value_equals_high(exact_measurements):
    _, _, second = build_assistant()
    result = version_footprint(second, **PERIOD)
    exact = {
        part: {name: (value, value) for name, value in EXPECTED[part].items()}
        for part in ("one_off", "serving")
    }
    exact["amortised_one_off_kgco2e_per_request"] = (EXPECTED["amortised_per_request"],) * 2
    for name in PER_REQUEST[1:]:
        exact[name] = (EXPECTED[name],) * 2
    assert_ranges(result, exact)
    for part in (result.one_off, result.serving):
        for name, bounds in part.all_ranges.items():
            if bounds is not None:
                value = getattr(part, name)
                assert bounds.low == approx(value) and bounds.high == approx(value), name


@pytest.mark.django_db
def test_a_shared_project_gives_each_version_its_share_of_the_range(exact_measurements):
    a, b = build_shared_project()
    bound_the_pue()
    period = {"start": PERIOD["start"].replace(month=11), "end": PERIOD["end"]}
    first, second = version_footprint(a, **period), version_footprint(b, **period)
    # a: 75 % of the 11-10 hour, b: 25 % of it and all of the 11-11 hour; each hour's facility
    # energy 1.2 to 1.8 kWh, operational 0.48 to 0.72 kgCO2e, embodied 2 exact.
    assert first.serving.bounds("energy_facility_kwh") == rm.Bounds(approx(0.9), approx(1.35))
    assert first.serving.bounds("total_kgco2e") == rm.Bounds(approx(1.86), approx(2.04))
    assert second.serving.bounds("total_kgco2e") == rm.Bounds(approx(3.1), approx(3.4))
    # Nothing lost, nothing counted twice: the shares' bounds add up to the project's.
    assert first.serving.bounds("total_kgco2e").low + second.serving.bounds(
        "total_kgco2e"
    ).low == approx(4.96)


# --- the API and the page ---------------------------------------------------------------------


def viewer(client):
    person = User.objects.create_user("viewer", password="pw")
    UserProfile.objects.create(user=person, role="viewer").teams.set([team("NLP")])
    client.force_login(person)


@pytest.mark.django_db
def test_the_footprint_api_carries_the_hand_computed_ranges(client, exact_measurements):
    build_assistant()
    bound_the_pue()
    viewer(client)
    body = client.get("/api/v1/models/assistant/versions/2.0/footprint", PERIOD_QUERY).json()
    for part in ("one_off", "serving"):
        for name, (low, high) in EXPECTED_RANGES[part].items():
            assert body[part]["ranges"][name] == {"low": approx(low), "high": approx(high)}, name
    assert body["one_off"]["ranges"]["sci"] is None  # no units of work recorded
    assert body["serving"]["ranges"]["sci"] == {
        "low": approx(5.44 / 50_000),
        "high": approx(6.16 / 50_000),
    }
    for name in PER_REQUEST:
        low, high = EXPECTED_RANGES[name]
        assert body["ranges"][name] == {"low": approx(low), "high": approx(high)}, name


@pytest.mark.django_db
def test_the_model_page_shows_value_low_and_high(client, exact_measurements):
    build_assistant()
    bound_the_pue()
    viewer(client)
    text = client.get("/ai-systems/assistant/", PERIOD_QUERY).content.decode()
    for expected in (
        "5.200 kgCO2e (4.960–5.440)",  # one-off total
        "5.800 kgCO2e (5.440–6.160)",  # serving total
        "0.1160 kgCO2e (0.1088–0.1232)",  # serving per 1,000 requests
        "0.1680 kgCO2e (0.1584–0.1776)",  # lifecycle per 1,000 requests
    ):
        assert expected in text, expected
    # Exact figures read as their value alone.
    assert "0.3000 kWh<" in text
