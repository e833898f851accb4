"""Ranges of every figure on the organisation, a team and a project, computed by hand
(docs/methodology.md, "Ranges").

Scenario, 2026-11-02 (the whole UTC day is read):
- site paris: zone TST-A 400 g/kWh, PUE 1.5 (1.2-1.8), grid +-10 %, price 0.20 (0.15-0.25);
- site iowa: zone TST-B 200 g/kWh with one imported hour of 300 g/kWh at 10:00, PUE 1.2
  (1.1-1.5), grid +-20 %, price 0.10 (no bounds);
- GPU model A: 26,280 kg over 3 years = 1 kg/h, 21,024-39,420 kg (x0.8-x1.5), 2-4 years;
- GPU model B: 17,520 kg over 4 years = 0.5 kg/h, max 26,280 kg (x1.5), no other bound;
- host P at paris: 35,040 kg over 4 years = 1 kg/h, 17,520-52,560 kg (x0.5-x1.5), one GPU of A;
- host I at iowa: 35,040 kg over 4 years = 1 kg/h, no bounds, one GPU of B;
- NVML energy +-5 %. Both GPUs in service all day, measured 10:00-11:00 only: the A GPU at
  1000 W for project llm (team NLP, 1000 units), the B GPU at 500 W for project cv (team CV).
"""

from datetime import date

import pytest
from django.contrib.auth.models import User

from assessments.footprint import scope_ranges
from assessments.footprint.rollup import rollup_dirty_hours
from assessments.footprint.scope_figures import Scope, scope_breakdown, scope_figures
from assessments.models import GridZone, HardwareModel, Site, UserProfile
from assessments.organisation.reference_data import RelativeBounds
from assessments.organisation.services import work_record_create
from tests.assessments.footprint.rollup_factories import (
    HOUR,
    T0,
    add_hourly_grid,
    add_samples,
    make_device,
    make_host,
    make_project,
    make_site,
)

pytestmark = pytest.mark.django_db
DAY, NEXT_DAY = date(2026, 11, 2), date(2026, 11, 3)
NAMES = ("energy_it_kwh", "energy_facility_kwh", "operational_kgco2e", "cost", "embodied_kgco2e")


def relative(low_pct, high_pct):
    return RelativeBounds(low_pct, high_pct, "test")


def measurement_bounds(nvml_pct):
    return lambda: {
        "nvml_gpu": relative(nvml_pct, nvml_pct),
        "rapl_cpu": relative(0, 0),
        "codecarbon": relative(0, 0),
        "simulated": relative(0, 0),
    }


@pytest.fixture(autouse=True)
def bounds_files(monkeypatch):
    """NVML +-5 %; the fallback bounds wide, to show that no value the organisation gave
    takes them."""
    monkeypatch.setattr(scope_ranges, "measurement_bounds", measurement_bounds(5))
    fallbacks = {"pue_fallback": relative(50, 50), "grid_fallback": relative(50, 50)}
    monkeypatch.setattr(scope_ranges, "fallback_factor_bounds", lambda: fallbacks)


def build(with_bounds=True):
    def bounded(**bounds):
        return bounds if with_bounds else {}

    paris = make_site("paris", zone="TST-A", pue=1.5, price=0.20)
    iowa = make_site("iowa", zone="TST-B", pue=1.2, price=0.10)
    iowa_zone = iowa.grid_zone
    GridZone.objects.filter(code="TST-B").update(gco2e_per_kwh=200.0)
    add_hourly_grid(iowa_zone, T0, 300.0)
    Site.objects.filter(pk=paris.pk).update(
        **bounded(pue_min=1.2, pue_max=1.8, grid_uncertainty_pct=10, price_min=0.15, price_max=0.25)
    )
    Site.objects.filter(pk=iowa.pk).update(
        **bounded(pue_min=1.1, pue_max=1.5, grid_uncertainty_pct=20)
    )
    model_a = HardwareModel.objects.create(
        kind="gpu",
        name="Model A",
        embodied_kgco2e=26280.0,
        lifetime_years=3.0,
        source="test",
        **bounded(
            min_kgco2e=21024.0, max_kgco2e=39420.0, lifetime_years_min=2, lifetime_years_max=4
        ),
    )
    model_b = HardwareModel.objects.create(
        kind="gpu",
        name="Model B",
        embodied_kgco2e=17520.0,
        lifetime_years=4.0,
        source="test",
        **bounded(max_kgco2e=26280.0),
    )
    host_p = make_host(paris, hostname="host-p")
    if with_bounds:
        host_p.min_kgco2e, host_p.max_kgco2e = 17520.0, 52560.0
        host_p.save()
    host_i = make_host(iowa, hostname="host-i")
    gpu_a, gpu_b = make_device(host_p), make_device(host_i)
    gpu_a.gpu_model_override, gpu_b.gpu_model_override = model_a, model_b
    gpu_a.save()
    gpu_b.save()
    llm = make_project("llm", team_name="NLP")
    make_project("cv", team_name="CV")
    add_samples(
        gpu_a,
        end=T0 + HOUR,
        count=360,
        every_s=10.0,
        power_w=1000.0,
        tags=[{"project": "llm", "share": 1.0}],
    )
    add_samples(
        gpu_b,
        end=T0 + HOUR,
        count=360,
        every_s=10.0,
        power_w=500.0,
        tags=[{"project": "cv", "share": 1.0}],
    )
    rollup_dirty_hours()
    work_record_create(project=llm, units=1000, start=T0, end=T0 + HOUR)


def bounds(value, low_factor, high_factor):
    return value * low_factor, value * high_factor


# Hand-computed. llm: 1 kWh IT, 1.5 kWh facility, 0.6 kg operational (x400 g), 0.3 EUR, 2 kg
# embodied (1 kg/h of model A, 1 kg/h of host P).
NVML, PUE_P, GRID_P, PRICE_P = (0.95, 1.05), (0.8, 1.2), (0.9, 1.1), (0.75, 1.25)
PUE_I, GRID_I = (1.1 / 1.2, 1.5 / 1.2), (0.8, 1.2)
TE_A, LIFE_A, HOST_P, TE_B = (0.8, 1.5), (3 / 4, 3 / 2), (0.5, 1.5), (1.0, 1.5)


def product(*pairs):
    low = high = 1.0
    for lo, hi in pairs:
        low, high = low * lo, high * hi
    return low, high


def scaled(value, *pairs):
    low, high = product(*pairs)
    return value * low, value * high


def add(*ranges):
    return sum(r[0] for r in ranges), sum(r[1] for r in ranges)


LLM = {
    "energy_it_kwh": (1.0, scaled(1.0, NVML)),
    "energy_facility_kwh": (1.5, scaled(1.5, NVML, PUE_P)),
    "operational_kgco2e": (0.6, scaled(0.6, NVML, PUE_P, GRID_P)),
    "cost": (0.3, scaled(0.3, NVML, PUE_P, PRICE_P)),
    "embodied_kgco2e": (2.0, add(scaled(1.0, TE_A, LIFE_A), scaled(1.0, HOST_P))),
}
# cv: 0.5 kWh IT, 0.6 kWh facility, 0.18 kg operational (the imported 300 g), 0.06 EUR, 1.5 kg
# embodied (0.5 kg/h of model B, 1 kg/h of host I without bounds).
CV = {
    "energy_it_kwh": (0.5, scaled(0.5, NVML)),
    "energy_facility_kwh": (0.6, scaled(0.6, NVML, PUE_I)),
    "operational_kgco2e": (0.18, scaled(0.18, NVML, PUE_I, GRID_I)),
    "cost": (0.06, scaled(0.06, NVML, PUE_I)),
    "embodied_kgco2e": (1.5, add(scaled(0.5, TE_B), (1.0, 1.0))),
}
# The organisation adds the 23 un-measured in-service hours of each GPU: 46 kg for the A GPU
# (23 of model A, 23 of host P) and 34.5 kg for the B GPU (11.5 of model B, 23 of host I).
ORGANISATION = {
    name: (LLM[name][0] + CV[name][0], add(LLM[name][1], CV[name][1]))
    for name in NAMES
    if name != "embodied_kgco2e"
}
ORGANISATION["embodied_kgco2e"] = (
    84.0,
    add(scaled(24.0, TE_A, LIFE_A), scaled(24.0, HOST_P), scaled(12.0, TE_B), (24.0, 24.0)),
)


def with_total(figures):
    value = figures["operational_kgco2e"][0] + figures["embodied_kgco2e"][0]
    return figures | {
        "total_kgco2e": (
            value,
            add(figures["operational_kgco2e"][1], figures["embodied_kgco2e"][1]),
        )
    }


def assert_ranges(ranges, expected):
    for name, (_, (low, high)) in with_total(expected).items():
        assert ranges[name].low == pytest.approx(low, rel=1e-9), name
        assert ranges[name].high == pytest.approx(high, rel=1e-9), name


@pytest.fixture
def scenario():
    build()


def figures(**scope):
    return scope_figures(scope=Scope.of(**scope), start=DAY, end=NEXT_DAY)


def test_every_figure_has_the_hand_computed_low_and_high(scenario):
    for scope, expected in (({"project": "llm"}, LLM), ({"team": "cv"}, CV), ({}, ORGANISATION)):
        result = figures(**scope)
        for name, (value, _) in with_total(expected).items():
            assert getattr(result, name) == pytest.approx(value, rel=1e-9), (scope, name)
        assert_ranges(result.ranges, expected)
    llm = figures(project="llm")
    total_low, total_high = with_total(LLM)["total_kgco2e"][1]
    assert llm.ranges["sci"].low == pytest.approx(total_low / 1000)
    assert llm.ranges["sci"].high == pytest.approx(total_high / 1000)
    assert figures(team="cv").ranges["sci"] is None  # no work units: no SCI


def test_breakdown_rows_carry_the_ranges_of_their_team(scenario):
    rows = scope_breakdown(by="team", scope=Scope(), start=DAY, end=NEXT_DAY)
    for slug, expected in (("nlp", LLM), ("cv", CV)):
        team = Scope.of(team=slug).team
        assert_ranges(rows[team.pk]["ranges"], expected)
    by_day = scope_breakdown(by="day", scope=Scope.of(project="llm"), start=DAY, end=NEXT_DAY)
    assert_ranges(by_day[DAY]["ranges"], LLM)


def test_a_models_max_changes_the_high_of_exactly_the_figures_that_use_it(scenario):
    before = {key: figures(**scope) for key, scope in SCOPES.items()}
    HardwareModel.objects.filter(name="Model B").update(max_kgco2e=35040.0)  # x1.5 -> x2
    after = {key: figures(**scope) for key, scope in SCOPES.items()}
    # Model B's part: 0.5 kg in cv's hour, 12 kg in the organisation's day; its high rises by
    # half of that (x2 instead of x1.5).
    raised = {"llm": 0.0, "nlp": 0.0, "cv": 0.25, "organisation": 6.0}
    for key, amount in raised.items():
        for name in (*NAMES, "total_kgco2e"):
            old, new = before[key].ranges[name], after[key].ranges[name]
            change = amount if name in ("embodied_kgco2e", "total_kgco2e") else 0.0
            assert new.high - old.high == pytest.approx(change, abs=1e-9), (key, name)
            assert new.low == pytest.approx(old.low, abs=1e-12), (key, name)


SCOPES = {
    "llm": {"project": "llm"},
    "nlp": {"team": "nlp"},
    "cv": {"team": "cv"},
    "organisation": {},
}


def test_the_drivers_of_the_organisations_range_are_ranked_as_by_hand(scenario):
    result = figures()
    low, high = with_total(ORGANISATION)["total_kgco2e"][1]
    width = high - low
    # Width taken away by holding each input at its value (operational 0.6 kg at paris,
    # 0.18 kg at iowa; embodied 24 kg of A's part, 24 kg of host P, 12 kg of B's part).
    narrowing = {
        "host:host-p:embodied": 24.0 * (1.5 - 0.5),
        "hardware_model:Model A:lifetime": 24.0 * ((2.25 - 0.6) - (1.5 - 0.8)),
        "hardware_model:Model A:embodied": 24.0 * ((2.25 - 0.6) - (1.5 - 0.75)),
        "hardware_model:Model B:embodied": 12.0 * 0.5,
        "site:paris:pue": 0.6 * ((1.386 - 0.684) - (1.05 * 1.1 - 0.95 * 0.9)),
        "site:paris:grid": 0.6 * ((1.386 - 0.684) - (1.05 * 1.2 - 0.95 * 0.8)),
        "measurement:nvml_gpu": 0.6 * ((1.386 - 0.684) - (1.2 * 1.1 - 0.8 * 0.9))
        + 0.18
        * ((1.05 * 1.25 * 1.2 - 0.95 * (1.1 / 1.2) * 0.8) - (1.25 * 1.2 - (1.1 / 1.2) * 0.8)),
        "site:iowa:grid": 0.18
        * ((1.05 * 1.25 * 1.2 - 0.95 * (1.1 / 1.2) * 0.8) - (1.05 * 1.25 - 0.95 * (1.1 / 1.2))),
        "site:iowa:pue": 0.18
        * ((1.05 * 1.25 * 1.2 - 0.95 * (1.1 / 1.2) * 0.8) - (1.05 * 1.2 - 0.95 * 0.8)),
    }
    expected = sorted(narrowing, key=lambda key: -narrowing[key])
    assert [d.input for d in result.range_drivers] == expected
    for driver in result.range_drivers:
        assert driver.share == pytest.approx(narrowing[driver.input] / width, rel=1e-9)
    assert result.range_drivers[0].label == "embodied carbon of host host-p"
    labels = {d.input: d.label for d in result.range_drivers}
    assert labels["site:paris:pue"] == "PUE of paris"


def test_without_inventory_bounds_embodied_is_exact_and_without_measurement_bounds_all(
    monkeypatch,
):
    build(with_bounds=False)
    for scope in SCOPES.values():
        ranges = figures(**scope).ranges
        assert ranges["embodied_kgco2e"].low == ranges["embodied_kgco2e"].high
        assert ranges["energy_it_kwh"].low < ranges["energy_it_kwh"].high  # NVML +-5 %
    monkeypatch.setattr(scope_ranges, "measurement_bounds", measurement_bounds(0))
    for scope in SCOPES.values():
        result = figures(**scope)
        for name, bound in result.ranges.items():
            if bound is None:
                continue
            value = result.sci if name == "sci" else getattr(result, name)
            assert bound.low == value == bound.high, (scope, name)
        assert result.range_drivers == ()


def test_a_fallback_pue_takes_the_shipped_fallback_bounds(scenario):
    Site.objects.filter(name="iowa").update(pue=None, pue_min=None, pue_max=None)
    result = figures(team="cv")
    # Facts keep the PUE they were computed with; the fallback's +-50 % applies to them.
    expected = scaled(0.6, NVML, (0.5, 1.5))
    assert (
        result.ranges["energy_facility_kwh"].low,
        result.ranges["energy_facility_kwh"].high,
    ) == (
        pytest.approx(expected[0]),
        pytest.approx(expected[1]),
    )


def test_the_read_api_carries_the_ranges_and_drivers(scenario, client):
    account = User.objects.create_user("viewer")
    UserProfile.objects.create(user=account, role="viewer")
    client.force_login(account)
    period = {"start": "2026-11-02", "end": "2026-11-03"}
    for path, expected in (
        ("/api/v1/projects/llm/footprint", LLM),
        ("/api/v1/teams/cv/footprint", CV),
        ("/api/v1/footprint", ORGANISATION),
    ):
        data = client.get(path, period).json()
        api_names = {
            "energy_it_kwh": "energy_kwh",
            "energy_facility_kwh": "facility_energy_kwh",
        }
        for name, (_, (low, high)) in with_total(expected).items():
            answer = data["ranges"][api_names.get(name, name)]
            assert answer["low"] == pytest.approx(low) and answer["high"] == pytest.approx(high)
        assert set(data["ranges"]) == {
            "energy_kwh",
            "facility_energy_kwh",
            "operational_kgco2e",
            "embodied_kgco2e",
            "total_kgco2e",
            "cost",
            "sci",
        }
    data = client.get("/api/v1/footprint", period).json()
    low, high = with_total(ORGANISATION)["total_kgco2e"][1]
    assert data["range_drivers"][0] == {
        "input": "host:host-p:embodied",
        "label": "embodied carbon of host host-p",
        "share": pytest.approx(24.0 / (high - low)),
    }
    assert client.get("/api/v1/teams/cv/footprint", period).json()["ranges"]["sci"] is None


def test_codecarbon_counted_energy_takes_the_codecarbon_bounds(scenario, monkeypatch):
    """CodeCarbon energy of an hour no agent measured counts, with CodeCarbon's bounds and the
    site's: 2 kWh IT at paris, 3 kWh facility, 1.2 kg, 0.6 EUR."""
    from assessments.models import CodeCarbonRun, HourlyCodeCarbonFact, Project

    bounds = measurement_bounds(5)()
    bounds["codecarbon"] = relative(20, 30)
    monkeypatch.setattr(scope_ranges, "measurement_bounds", lambda: bounds)
    project = Project.objects.get(slug="cv")
    paris = Site.objects.get(name="paris")
    run = CodeCarbonRun.objects.create(
        run_id="r1", source="api", project=project, site=paris, started_at=T0 - 3 * HOUR
    )
    HourlyCodeCarbonFact.objects.create(
        run=run,
        hour=T0 - 2 * HOUR,
        project=project,
        team=project.team,
        site=paris,
        phase=project.phase,
        energy_it_kwh=2.0,
        energy_facility_kwh=3.0,
        operational_kgco2e=1.2,
        cost=0.6,
        pue=1.5,
        grid_gco2e_per_kwh=400.0,
        grid_source="test",
        price_per_kwh=0.2,
    )
    result = figures(team="cv")
    codecarbon = (0.8, 1.3)
    expected = {
        "energy_it_kwh": add(CV["energy_it_kwh"][1], scaled(2.0, codecarbon)),
        "energy_facility_kwh": add(CV["energy_facility_kwh"][1], scaled(3.0, codecarbon, PUE_P)),
        "operational_kgco2e": add(
            CV["operational_kgco2e"][1], scaled(1.2, codecarbon, PUE_P, GRID_P)
        ),
        "cost": add(CV["cost"][1], scaled(0.6, codecarbon, PUE_P, PRICE_P)),
    }
    for name, (low, high) in expected.items():
        assert result.ranges[name].low == pytest.approx(low), name
        assert result.ranges[name].high == pytest.approx(high), name
    assert "measurement:codecarbon" in {d.input for d in result.range_drivers}
    row = scope_breakdown(by="team", scope=Scope(), start=DAY, end=NEXT_DAY)[project.team_id]
    assert row["ranges"]["energy_it_kwh"].high == pytest.approx(expected["energy_it_kwh"][1])


def test_several_breakdowns_read_at_once_carry_the_same_ranges_as_one_by_one(scenario):
    from assessments.footprint.scope_figures import scope_breakdowns

    bys = ("project", "team", "phase", "site", "day")
    together = scope_breakdowns(bys=bys, scope=Scope(), start=DAY, end=NEXT_DAY)
    for by in bys:
        alone = scope_breakdown(by=by, scope=Scope(), start=DAY, end=NEXT_DAY)
        assert set(together[by]) == set(alone)
        for key, row in alone.items():
            for name, bounds in row["ranges"].items():
                other = together[by][key]["ranges"][name]
                assert (other is None) == (bounds is None), (by, key, name)
                if bounds is not None:
                    assert (other.low, other.high) == pytest.approx((bounds.low, bounds.high))
    paris = Site.objects.get(name="paris")
    assert_ranges(together["site"][paris.pk]["ranges"], LLM)  # llm is all of paris


def test_days_per_host_give_the_ranges_hours_per_device_give_and_a_stale_host_too(
    scenario, monkeypatch
):
    """The daily range facts (per host and measurement) against the hourly project facts, with
    a second GPU of another model on host P working for another project, and again with every
    host's in-service rows marked stale (read live from the inventory)."""
    from assessments.footprint import in_service, selectors
    from assessments.footprint.in_service import in_service_mark_stale, in_service_refresh
    from collectors.models import Host

    host_p = Host.objects.get(hostname="host-p")
    second = make_device(host_p, index=1)
    second.gpu_model_override = HardwareModel.objects.get(name="Model B")
    second.save()
    add_samples(
        second,
        end=T0 + HOUR,
        count=360,
        every_s=10.0,
        power_w=300.0,
        tags=[{"project": "cv", "share": 1.0}],
    )
    rollup_dirty_hours()
    in_service_refresh()
    scopes = ({}, {"team": "cv"}, {"project": "cv"}, {"project": "llm"}, {"site": "paris"})

    def read():
        return {str(scope): figures(**scope).ranges for scope in scopes}

    by_days = read()
    assert by_days[str({"project": "cv"})]["embodied_kgco2e"].high > (
        by_days[str({"project": "cv"})]["embodied_kgco2e"].low
    )
    monkeypatch.setattr(selectors, "_whole_days", lambda *_: False)
    by_hours = read()
    monkeypatch.undo()
    # Every host's rows read and the wanted ones kept, as for a long list of hosts.
    monkeypatch.setattr(in_service, "LONG_IN_LIST", 0)
    every_host = read()
    monkeypatch.undo()
    in_service_mark_stale(None)
    stale = read()
    monkeypatch.setattr(in_service, "LONG_IN_LIST", 0)
    every_host_stale = read()
    for other in (by_hours, stale, every_host, every_host_stale):
        for scope, ranges in by_days.items():
            for name, bounds in ranges.items():
                if bounds is None:
                    assert other[scope][name] is None, (scope, name)
                    continue
                found = other[scope][name]
                assert (found.low, found.high) == pytest.approx(
                    (bounds.low, bounds.high), rel=1e-9
                ), (scope, name)
