"""The dashboards, the CSV exports, the read API and the monthly report show the same figures for
the same scope.

Every surface reads assessments.footprint.scope_figures, so a project's, a team's or the
organisation's month must read the same in each: IT energy, facility energy, operational,
embodied and total carbon, cost and SCI, also with CodeCarbon hours in the data and with
instantaneous work records at the month's first and at its closing instant.
"""

from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from assessments.dashboards import selectors as dashboards
from assessments.footprint.selectors import unmeasured_embodied
from assessments.models import DailyProjectFact, UserProfile
from assessments.reports.report_summary import format_number, with_bounds
from assessments.reports.selectors import month_window, project_rows, report_context
from assessments.templatetags.greenai import range_below
from tests.assessments.reports.report_factories import OCTOBER, make_scenario

pytestmark = pytest.mark.django_db

# Dashboards' names (fact fields) -> the read API's and the report's names.
FIGURES = {
    "energy_it_kwh": "energy_kwh",
    "energy_facility_kwh": "facility_energy_kwh",
    "operational_kgco2e": "operational_kgco2e",
    "embodied_kgco2e": "embodied_kgco2e",
    "total_kgco2e": "total_kgco2e",
    "cost": "cost",
}
NOVEMBER = date(2026, 11, 1)


@pytest.fixture
def scenario():
    return make_scenario()


@pytest.fixture
def api(client):
    account = User.objects.create_user("viewer")
    UserProfile.objects.create(user=account, role="viewer")
    client.force_login(account)

    def get(path):
        response = client.get(path, {"start": OCTOBER.isoformat(), "end": NOVEMBER.isoformat()})
        assert response.status_code == 200, response.content
        return response.json()

    return get


def report_figures(team=None) -> dict:
    generated_at = datetime(2026, 11, 2, tzinfo=UTC)
    context = report_context(window=month_window(OCTOBER), team=team, generated_at=generated_at)
    return context["footprint"]


def assert_same(dashboard: dict, *others: dict) -> None:
    for field, name in FIGURES.items():
        assert dashboard[field] > 0, field
        for other in others:
            assert other[name] == pytest.approx(dashboard[field], rel=1e-9), name


def test_a_teams_month_reads_the_same_on_its_page_in_the_api_and_in_its_report(scenario, api):
    for team in scenario["teams"]:
        page = dashboards.period_totals(start=OCTOBER, end=NOVEMBER, team=team)
        assert_same(page, api(f"/api/v1/teams/{team.slug}/footprint"), report_figures(team))


def test_a_projects_month_reads_the_same_on_its_page_in_the_api_and_in_the_report(scenario, api):
    window = month_window(OCTOBER)
    rows = {row["name"]: row for row in project_rows(window=window, team=None, currency="EUR")}
    for project in scenario["projects"]:
        page = dashboards.period_totals(start=OCTOBER, end=NOVEMBER, project=project)
        from_api = api(f"/api/v1/projects/{project.slug}/footprint")
        assert_same(page, from_api)
        # The report prints the project's row rounded as the board reads it, with its range.
        row = rows[project.name]
        for field, name in FIGURES.items():
            decimals = 2 if name == "cost" else None
            expected = with_bounds(
                format_number(page[field], decimals),
                page[field],
                from_api["ranges"][name],
                decimals,
            )
            assert row[name] == expected, name


def test_the_organisations_month_reads_the_same_on_the_overview_in_the_api_and_the_report(
    scenario, api
):
    report = report_figures()
    organisation = api("/api/v1/footprint")
    page = dashboards.period_totals(start=OCTOBER, end=NOVEMBER)
    assert_same(page, organisation, report)
    # The organisation's embodied carbon includes in-service hours nothing measured; the
    # overview's tiles and its unallocated panel carry them too.
    [unmeasured] = unmeasured_embodied([(OCTOBER, NOVEMBER)])
    assert unmeasured > 0
    measured_only = DailyProjectFact.objects.filter(day__gte=OCTOBER, day__lt=NOVEMBER)
    assert page["embodied_kgco2e"] == pytest.approx(
        measured_only.measure_sums()["embodied_kgco2e"] + unmeasured, rel=1e-9
    )
    waste = dashboards.unallocated(start=OCTOBER, end=NOVEMBER)
    assert waste["total"]["embodied_kgco2e"] == pytest.approx(
        organisation["unallocated_embodied_kgco2e"], rel=1e-9
    )
    assert waste["by_site"][-1]["label"] == "In service, no measurement"


def test_the_overviews_month_tile_carries_the_unmeasured_embodied_carbon(scenario):
    comparison = dashboards.kpi_comparison(end=NOVEMBER)
    period = comparison["periods"]["current"]
    expected = dashboards.period_totals(start=period.start, end=period.end)
    current = comparison["figures"]["current"]
    for name in ("embodied_kgco2e", "total_kgco2e", "operational_kgco2e"):
        assert current[name] == pytest.approx(expected[name], rel=1e-9), name


# --- With CodeCarbon hours and instantaneous work records ------------------------------------

CODECARBON_EXPERIMENT = "4c1d8a83-5b7e-4f6e-9c55-0a5e3d1f2b10"


@pytest.fixture
def reported(scenario):
    """The scenario, plus: a CodeCarbon run of vision-inference through the ingest services
    (one interval in an hour the agent did not measure the project, which counts, one in an hour
    it did, which is overlap), and two instantaneous work records, one at October's first
    instant (October's) and one at its closing instant (November's)."""
    import json

    from assessments.codecarbon.services import emission_add, experiment_register, run_create
    from assessments.models import WorkRecord
    from collectors.services import collector_create
    from tests.assessments.codecarbon.test_codecarbon_api import emission_body, run_body

    finetune, inference = scenario["projects"]
    experiment_register(
        project=inference, experiment_id=CODECARBON_EXPERIMENT, site=scenario["site"]
    )
    collector, _ = collector_create(name="vision-cc", team=inference.team)
    body = run_body(CODECARBON_EXPERIMENT, timestamp="2026-10-10T12:00:00+00:00")
    run = run_create(collector=collector, body=json.dumps(body).encode())
    for ts, kwh in (("2026-10-10T12:30:00+00:00", 0.4), ("2026-10-05T03:30:00+00:00", 0.2)):
        emission = emission_body(str(run.run_id), ts=ts, kwh=kwh)
        emission_add(collector=collector, body=json.dumps(emission).encode())
    for instant, units in ((datetime(2026, 10, 1, tzinfo=UTC), 7000), (NOVEMBER_START, 9000)):
        WorkRecord.objects.create(
            project=inference, period_start=instant, period_end=instant, units=units
        )
    return scenario


NOVEMBER_START = datetime(2026, 11, 1, tzinfo=UTC)
SIX = ("energy_it_kwh", "energy_facility_kwh", "operational_kgco2e", "embodied_kgco2e", "cost")


def _csv_rows(client, name, **query) -> list[dict]:
    import csv
    import io

    params = {"start": OCTOBER.isoformat(), "end": NOVEMBER.isoformat(), **query}
    response = client.get(reverse("export_csv", args=[name]), params)
    assert response.status_code == 200, response.content
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def _csv_figures(row: dict, currency: str) -> dict:
    headers = {
        "energy_it_kwh": "IT energy (kWh)",
        "energy_facility_kwh": "Facility energy (kWh)",
        "operational_kgco2e": "Operational carbon (kgCO2e)",
        "embodied_kgco2e": "Embodied carbon (kgCO2e)",
        "total_kgco2e": "Total carbon (kgCO2e)",
        "cost": f"Cost ({currency})",
    }
    figures = {name: float(row[header]) for name, header in headers.items()}
    if "SCI (kgCO2e per unit)" in row:
        sci = row["SCI (kgCO2e per unit)"]
        figures["sci"] = float(sci) if sci else None
    return figures


def _from_api(data: dict) -> dict:
    return {field: data[name] for field, name in FIGURES.items()} | {"sci": data["sci"]}


def _agree(expected, *surfaces: tuple[str, dict]) -> None:
    """Each surface's figures equal the selector's (CSV cells carry 9 decimals)."""
    for surface, figures in surfaces:
        for name, value in figures.items():
            want = getattr(expected, name)
            if want is None or value is None:
                assert value == want, (surface, name)
            else:
                assert value == pytest.approx(want, rel=1e-9, abs=1e-9), (surface, name)


@pytest.fixture
def viewer(client):
    account = User.objects.create_user("board")
    UserProfile.objects.create(user=account, role="viewer")
    client.force_login(account)
    return client


def _page_totals(client, path: str) -> dict:
    response = client.get(path, {"start": OCTOBER.isoformat(), "end": NOVEMBER.isoformat()})
    assert response.status_code == 200
    totals = response.context["totals"]
    return {name: totals[name] for name in (*FIGURES, "sci")}


def test_codecarbon_hours_count_once_and_the_instants_in_their_half_open_month(reported):
    from assessments.footprint.scope_figures import Scope, scope_figures

    finetune, inference = reported["projects"]
    october = scope_figures(scope=Scope(project=inference), start=OCTOBER, end=NOVEMBER)
    # 0.4 kWh counted (12:00, no agent hour); 0.2 kWh at 03:00 the agent measured: overlap.
    assert october.codecarbon["energy_kwh"] == pytest.approx(0.4)
    assert october.codecarbon["overlap_energy_kwh"] == pytest.approx(0.2)
    measured = DailyProjectFact.objects.filter(
        day__gte=OCTOBER, day__lt=NOVEMBER, project=inference
    ).measure_sums()
    assert october.energy_it_kwh == pytest.approx(measured["energy_it_kwh"] + 0.4)
    # The month-long record, and the instant at October's first instant; not the one at
    # November's first instant, which is November's.
    assert october.work_units == pytest.approx(1_000_000 + 7000)
    november = scope_figures(scope=Scope(project=inference), start=NOVEMBER, end=date(2026, 12, 1))
    assert november.work_units == pytest.approx(9000)


def test_the_organisations_month_reads_the_same_on_every_surface(reported, viewer):
    from assessments.footprint.scope_figures import Scope, scope_figures

    expected = scope_figures(scope=Scope(), start=OCTOBER, end=NOVEMBER)
    assert expected.codecarbon["energy_kwh"] > 0 and expected.unmeasured_embodied_kgco2e > 0
    assert expected.sci is None  # training samples and inferences do not add up
    tiles = viewer.get(
        reverse("overview"), {"start": OCTOBER.isoformat(), "end": NOVEMBER.isoformat()}
    )
    assert tiles.status_code == 200
    tile_rows = {row["key"]: row["current"] for row in tiles.context["kpis"].rows}
    kpis_csv = {row["Metric"]: row for row in _csv_rows(viewer, "kpis")}
    current = next(header for header in next(iter(kpis_csv.values())) if "October" in header)
    csv_figures = {
        name: float(kpis_csv[label][current]) if kpis_csv[label][current] else None
        for name, label in (
            ("energy_it_kwh", "IT energy"),
            ("energy_facility_kwh", "Facility energy"),
            ("operational_kgco2e", "Operational carbon"),
            ("embodied_kgco2e", "Embodied carbon"),
            ("total_kgco2e", "Total carbon"),
            ("cost", "Cost"),
            ("sci", "SCI"),
        )
    }
    api = viewer.get(
        "/api/v1/footprint", {"start": OCTOBER.isoformat(), "end": NOVEMBER.isoformat()}
    )
    report = report_figures()
    _agree(
        expected,
        ("tiles", {name: tile_rows[name] for name in (*FIGURES, "sci")}),
        ("kpis CSV", csv_figures),
        ("API", _from_api(api.json())),
        ("PDF", _from_api(report)),
    )


def test_a_teams_month_reads_the_same_on_every_surface(reported, viewer):
    from assessments.footprint.scope_figures import Scope, scope_figures

    vision = reported["teams"][1]
    expected = scope_figures(scope=Scope(team=vision), start=OCTOBER, end=NOVEMBER)
    assert expected.codecarbon["energy_kwh"] > 0 and expected.sci is not None
    tiles = viewer.get(
        reverse("overview"),
        {"start": OCTOBER.isoformat(), "end": NOVEMBER.isoformat(), "team": vision.slug},
    )
    tile_rows = {row["key"]: row["current"] for row in tiles.context["kpis"].rows}
    by_team = {row["Team"]: row for row in _csv_rows(viewer, "by-team")}
    teams_csv = {row["Team"]: row for row in _csv_rows(viewer, "teams")}
    api = viewer.get(
        f"/api/v1/teams/{vision.slug}/footprint",
        {"start": OCTOBER.isoformat(), "end": NOVEMBER.isoformat()},
    )
    _agree(
        expected,
        ("tiles", {name: tile_rows[name] for name in (*FIGURES, "sci")}),
        ("team page", _page_totals(viewer, reverse("team_detail", args=[vision.slug]))),
        ("by-team CSV", _csv_figures(by_team[vision.name], "EUR")),
        ("teams CSV", _csv_figures(teams_csv[vision.name], "EUR")),
        ("API", _from_api(api.json())),
        ("PDF", _from_api(report_figures(vision))),
    )


def test_a_projects_month_reads_the_same_on_every_surface(reported, viewer):
    from assessments.decisions.selectors import _project_months
    from assessments.footprint.scope_figures import Scope, scope_figures

    inference = reported["projects"][1]
    expected = scope_figures(scope=Scope(project=inference), start=OCTOBER, end=NOVEMBER)
    assert expected.codecarbon["energy_kwh"] > 0 and expected.sci is not None
    projects_csv = {row["Project"]: row for row in _csv_rows(viewer, "projects")}
    top_csv = {row["Project"]: row for row in _csv_rows(viewer, "top-projects")}
    by_phase = {row["Phase"]: row for row in _csv_rows(viewer, "by-phase")}
    api = viewer.get(
        f"/api/v1/projects/{inference.slug}/footprint",
        {"start": OCTOBER.isoformat(), "end": NOVEMBER.isoformat()},
    )
    _agree(
        expected,
        ("project page", _page_totals(viewer, reverse("project_detail", args=[inference.slug]))),
        ("projects CSV", _csv_figures(projects_csv[inference.name], "EUR")),
        ("top-projects CSV", _csv_figures(top_csv[inference.name], "EUR")),
        # vision-inference is the only inference project: the phase's row is the project's.
        ("by-phase CSV", _csv_figures(by_phase["Inference"], "EUR")),
        ("API", _from_api(api.json())),
    )
    # The report prints the project's row rounded as the board reads it.
    window = month_window(OCTOBER)
    row = {r["name"]: r for r in project_rows(window=window, team=None, currency="EUR")}
    for field, name in FIGURES.items():
        decimals = 2 if name == "cost" else None
        value = getattr(expected, field)
        ends = {"low": expected.ranges[field].low, "high": expected.ranges[field].high}
        expected_text = with_bounds(format_number(value, decimals), value, ends, decimals)
        assert row[inference.name][name] == expected_text, name
    # The decisions' month of the project.
    [month] = [m for m in _project_months(window.start, window.end) if m.project_id == inference.pk]
    assert month.energy_facility_kwh == pytest.approx(expected.energy_facility_kwh, rel=1e-9)
    assert month.kgco2e == pytest.approx(expected.total_kgco2e, rel=1e-9)
    assert month.cost == pytest.approx(expected.cost, rel=1e-9)
    assert month.units == pytest.approx(expected.work_units, rel=1e-9)


def test_a_site_a_host_and_a_hardware_model_read_their_devices(reported, viewer):
    from assessments.footprint.scope_figures import Scope, scope_figures
    from assessments.organisation import factors

    site, host, gpus = reported["site"], reported["host"], reported["gpus"]
    organisation = scope_figures(scope=Scope(), start=OCTOBER, end=NOVEMBER)
    at_site = scope_figures(scope=Scope(site=site), start=OCTOBER, end=NOVEMBER)
    api = viewer.get(
        "/api/v1/footprint",
        {"start": OCTOBER.isoformat(), "end": NOVEMBER.isoformat(), "site": site.name},
    )
    _agree(at_site, ("site API", _from_api(api.json())))
    # Every device and the CodeCarbon run are at the one site: the site is the organisation.
    _agree(organisation, ("site", {name: getattr(at_site, name) for name in SIX}))
    # A host's devices: measured facts and their un-measured in-service hours, no CodeCarbon
    # energy (it names no device) and no work of its own.
    on_host = scope_figures(scope=Scope(host=host), start=OCTOBER, end=NOVEMBER)
    measured = DailyProjectFact.objects.filter(day__gte=OCTOBER, day__lt=NOVEMBER).measure_sums()
    assert on_host.energy_it_kwh == pytest.approx(measured["energy_it_kwh"], rel=1e-9)
    assert on_host.embodied_kgco2e == pytest.approx(organisation.embodied_kgco2e, rel=1e-9)
    assert on_host.unmeasured_embodied_kgco2e > 0
    assert on_host.work_units == 0 and on_host.sci is None and on_host.coverage is not None
    model = factors.gpu_model_for(gpus[0])
    assert model is not None
    of_model = scope_figures(scope=Scope(hardware_model=model), start=OCTOBER, end=NOVEMBER)
    _agree(on_host, ("hardware model", {name: getattr(of_model, name) for name in SIX}))
    # Over hours rather than whole days the same devices read the same.
    hours = scope_figures(
        scope=Scope(host=host),
        start=datetime(2026, 10, 1, tzinfo=UTC),
        end=datetime(2026, 10, 31, 23, 59, tzinfo=UTC),
    )
    assert hours.energy_it_kwh == pytest.approx(on_host.energy_it_kwh, rel=1e-9)


@pytest.mark.parametrize("bucket", ["day", "month"])
def test_a_trends_buckets_add_up_to_the_scopes_figures(reported, bucket):
    from assessments.footprint.scope_figures import Scope, scope_figures

    vision = reported["teams"][1]
    start = date(2026, 9, 1)
    expected = scope_figures(scope=Scope(team=vision), start=start, end=NOVEMBER)
    series = dashboards.time_series(start=start, end=NOVEMBER, team=vision, bucket=bucket)
    assert len(series) == (2 if bucket == "month" else 15 + 31)
    assert all(isinstance(row["period"], date) for row in series)
    assert [row["period"] for row in series] == sorted(row["period"] for row in series)
    for name in SIX:
        total = sum(row[name] for row in series)
        assert total == pytest.approx(getattr(expected, name), rel=1e-9), name
    # CodeCarbon's counted hour lands on its day (10 October), in October's bucket.
    day = date(2026, 10, 10) if bucket == "day" else OCTOBER
    [row] = [row for row in series if row["period"] == day]
    measured = DailyProjectFact.objects.filter(day=date(2026, 10, 10), team=vision)
    if bucket == "day":
        assert row["energy_it_kwh"] == pytest.approx(
            measured.measure_sums()["energy_it_kwh"] + 0.4, rel=1e-9
        )


# --- Ranges (docs/methodology.md, "Ranges") -------------------------------------------------

API_NAMES = FIGURES | {"sci": "sci"}
CSV_HEADERS = {
    "energy_it_kwh": ("IT energy", "kWh"),
    "energy_facility_kwh": ("Facility energy", "kWh"),
    "operational_kgco2e": ("Operational carbon", "kgCO2e"),
    "embodied_kgco2e": ("Embodied carbon", "kgCO2e"),
    "total_kgco2e": ("Total carbon", "kgCO2e"),
    "cost": ("Cost", "EUR"),
    "sci": ("SCI", "kgCO2e per unit"),
}


@pytest.fixture
def bounded(reported, monkeypatch):
    """The scenario with bounds on every kind of input, so that every range has a width."""
    from assessments.footprint import scope_ranges
    from assessments.models import HardwareModel, Site
    from assessments.organisation.factors import gpu_model_for
    from assessments.organisation.reference_data import RelativeBounds
    from collectors.models import Host

    Site.objects.filter(name="paris-dc1").update(
        pue_min=1.1, pue_max=1.6, grid_uncertainty_pct=15, price_min=0.1, price_max=0.3
    )
    Host.objects.filter(hostname="gpu-node-01").update(min_kgco2e=3000, max_kgco2e=6500)
    model = gpu_model_for(reported["gpus"][0])
    HardwareModel.objects.filter(pk=model.pk).update(
        min_kgco2e=model.embodied_kgco2e * 0.7,
        max_kgco2e=model.embodied_kgco2e * 1.6,
        lifetime_years_min=model.lifetime_years - 1,
        lifetime_years_max=model.lifetime_years + 2,
    )
    measured = {
        kind: RelativeBounds(pct, pct, "test")
        for kind, pct in (("nvml_gpu", 5), ("rapl_cpu", 10), ("codecarbon", 25), ("simulated", 1))
    }
    monkeypatch.setattr(scope_ranges, "measurement_bounds", lambda: measured)
    return reported


def _api_ranges(data: dict) -> dict:
    return {name: data["ranges"][api] for name, api in API_NAMES.items()}


def _csv_ranges(row: dict) -> dict:
    result = {}
    for name, (label, unit) in CSV_HEADERS.items():
        if f"{label} low ({unit})" in row:
            low, high = row[f"{label} low ({unit})"], row[f"{label} high ({unit})"]
            result[name] = {"low": float(low), "high": float(high)} if low else None
    return result


def _ranges_agree(expected, *surfaces: tuple[str, dict]) -> None:
    """Each surface's lows and highs equal the selector's; every range but SCI has a width."""
    for name in ("energy_it_kwh", "embodied_kgco2e", "total_kgco2e", "cost"):
        assert expected.ranges[name].low < expected.ranges[name].high, name
    for surface, ranges in surfaces:
        assert ranges, surface
        for name, answer in ranges.items():
            want = expected.ranges[name]
            if want is None or answer is None:
                assert answer is None and want is None, (surface, name)
                continue
            for side in ("low", "high"):
                assert answer[side] == pytest.approx(getattr(want, side), rel=1e-9, abs=1e-9), (
                    surface,
                    name,
                    side,
                )


def _period() -> dict:
    return {"start": OCTOBER.isoformat(), "end": NOVEMBER.isoformat()}


def test_the_organisations_ranges_read_the_same_in_the_api(bounded, viewer):
    from assessments.footprint.scope_figures import Scope, scope_figures

    expected = scope_figures(scope=Scope(), start=OCTOBER, end=NOVEMBER)
    data = viewer.get("/api/v1/footprint", _period()).json()
    _ranges_agree(expected, ("API", _api_ranges(data)))
    drivers = [(d.input, d.label, pytest.approx(d.share)) for d in expected.range_drivers]
    assert [(d["input"], d["label"], d["share"]) for d in data["range_drivers"]] == drivers
    assert "measurement:codecarbon" in {d.input for d in expected.range_drivers}


def test_a_teams_ranges_read_the_same_in_the_api_and_the_csv_exports(bounded, viewer):
    from assessments.footprint.scope_figures import Scope, scope_figures

    vision = bounded["teams"][1]
    expected = scope_figures(scope=Scope(team=vision), start=OCTOBER, end=NOVEMBER)
    by_team = {row["Team"]: row for row in _csv_rows(viewer, "by-team")}
    teams_csv = {row["Team"]: row for row in _csv_rows(viewer, "teams")}
    api = viewer.get(f"/api/v1/teams/{vision.slug}/footprint", _period()).json()
    _ranges_agree(
        expected,
        ("API", _api_ranges(api)),
        ("by-team CSV", _csv_ranges(by_team[vision.name])),
        ("teams CSV", _csv_ranges(teams_csv[vision.name])),
    )


def _ends(bounds) -> dict | None:
    return None if bounds is None else {"low": bounds.low, "high": bounds.high}


def _drivers(drivers) -> list[tuple]:
    return [
        (d["input"], d["label"], pytest.approx(d["share"], rel=1e-9))
        if isinstance(d, dict)
        else (d.input, d.label, pytest.approx(d.share, rel=1e-9))
        for d in drivers
    ]


def test_the_organisations_ranges_and_drivers_read_the_same_on_every_surface(bounded, viewer):
    from assessments.footprint.range_words import narrowing_sentences
    from assessments.footprint.scope_figures import Scope, scope_figures
    from assessments.reports.report_summary import SUMMARY_METRICS, format_metric
    from assessments.templatetags.greenai import format_with_range

    expected = scope_figures(scope=Scope(), start=OCTOBER, end=NOVEMBER)
    for name in ("energy_it_kwh", "operational_kgco2e", "embodied_kgco2e", "total_kgco2e"):
        bounds = expected.ranges[name]
        assert bounds.low < getattr(expected, name) < bounds.high, name
    assert len(expected.range_drivers) >= 5

    tiles = viewer.get(
        reverse("overview"), {"start": OCTOBER.isoformat(), "end": NOVEMBER.isoformat()}
    )
    rows = {row["key"]: row for row in tiles.context["kpis"].rows}
    _ranges_agree(
        expected, ("tiles", {name: _ends(rows[name]["ranges"]["current"]) for name in API_NAMES})
    )
    # The kpis CSV: this month's column, then its low and high.
    kpis_csv = {row["Metric"]: row for row in _csv_rows(viewer, "kpis")}
    headers = list(next(iter(kpis_csv.values())))
    low = next(h for h in headers if "October" in h and h.endswith(" low"))
    high = next(h for h in headers if "October" in h and h.endswith(" high"))
    assert headers.index(high) == headers.index(low) + 1
    total_row = kpis_csv["Total carbon"]
    _ranges_agree(
        expected,
        (
            "kpis CSV",
            {"total_kgco2e": {"low": float(total_row[low]), "high": float(total_row[high])}},
        ),
    )
    html = tiles.content.decode()
    total = format_with_range(expected.total_kgco2e, expected.ranges["total_kgco2e"], 1, "kgCO2e")
    assert "(" in total and str(range_below(total)) in html

    api = viewer.get(
        "/api/v1/footprint", {"start": OCTOBER.isoformat(), "end": NOVEMBER.isoformat()}
    ).json()
    _ranges_agree(expected, ("API", _api_ranges(api)))
    assert _drivers(api["range_drivers"]) == _drivers(expected.range_drivers)

    report = report_context(
        window=month_window(OCTOBER), team=None, generated_at=datetime(2026, 11, 2, tzinfo=UTC)
    )
    _ranges_agree(expected, ("PDF", _api_ranges(report["footprint"])))
    summary_rows = {row["label"]: row["value"] for row in report["comparison_rows"]}
    for metric in SUMMARY_METRICS:
        value = report["footprint"][metric.key]
        bounds = report["footprint"]["ranges"][metric.key]
        assert summary_rows[metric.label] == format_metric(value, metric, "EUR", bounds)
        assert "–" in summary_rows[metric.label], metric.label

    # What would narrow the range most: the same words from the same drivers.
    words = narrowing_sentences(expected.range_drivers, whose="the organisation's")
    assert words and expected.range_drivers[0].label in words[0].lower()
    assert tiles.context["narrowing"] == words
    assert report["narrowing"] == words


def test_a_teams_ranges_and_drivers_read_the_same_on_every_surface(bounded, viewer):
    from assessments.footprint.range_words import narrowing_sentences
    from assessments.footprint.scope_figures import Scope, scope_figures
    from assessments.templatetags.greenai import format_with_range

    vision = bounded["teams"][1]
    expected = scope_figures(scope=Scope(team=vision), start=OCTOBER, end=NOVEMBER)
    assert expected.ranges["total_kgco2e"].low < expected.total_kgco2e
    query = {"start": OCTOBER.isoformat(), "end": NOVEMBER.isoformat()}

    page = viewer.get(reverse("team_detail", args=[vision.slug]), query)
    totals = page.context["totals"]
    _ranges_agree(expected, ("team page", {n: _ends(totals["ranges"].get(n)) for n in API_NAMES}))
    html = page.content.decode()
    for name, unit, digits in (("total_kgco2e", "kgCO2e", 1), ("energy_it_kwh", "kWh", 1)):
        text = format_with_range(getattr(expected, name), expected.ranges[name], digits, unit)
        assert "–" in text and str(range_below(text)) in html, name

    tiles = viewer.get(reverse("overview"), {**query, "team": vision.slug})
    rows = {row["key"]: row for row in tiles.context["kpis"].rows}
    _ranges_agree(expected, ("tiles", {n: _ends(rows[n]["ranges"]["current"]) for n in API_NAMES}))

    # The overview's by-team table: the team's row, its total carbon with its range.
    overview = viewer.get(reverse("overview"), query)
    [by_team] = [t for t in overview.context["tables"] if t.name == "by-team"]
    [row] = [r for r in by_team.rows if r["label"] == vision.name]
    by_team_ranges = {n: _ends(row["ranges"].get(n)) for n in FIGURES}
    _ranges_agree(expected, ("by-team table", by_team_ranges))
    cell_text = format_with_range(row["total_kgco2e"], row["ranges"]["total_kgco2e"], 2)
    assert "–" in cell_text and cell_text in overview.content.decode()

    api = viewer.get(f"/api/v1/teams/{vision.slug}/footprint", query).json()
    _ranges_agree(expected, ("API", _api_ranges(api)))
    assert _drivers(api["range_drivers"]) == _drivers(expected.range_drivers)

    report = report_context(
        window=month_window(OCTOBER), team=vision, generated_at=datetime(2026, 11, 2, tzinfo=UTC)
    )
    _ranges_agree(expected, ("PDF", _api_ranges(report["footprint"])))
    organisation_report = report_context(
        window=month_window(OCTOBER), team=None, generated_at=datetime(2026, 11, 2, tzinfo=UTC)
    )
    [team_row] = [r for r in organisation_report["team_rows"] if r["name"] == vision.name]
    bounds = api["ranges"]["total_kgco2e"]
    assert team_row["total_kgco2e"] == with_bounds(
        format_number(api["total_kgco2e"]), api["total_kgco2e"], bounds
    )

    words = narrowing_sentences(expected.range_drivers, whose=f"team {vision.name}'s")
    assert words
    assert page.context["narrowing"] == words
    assert tiles.context["narrowing"] == words
    assert report["narrowing"] == words
    assert team_row["narrowing"] == words


def test_a_projects_ranges_read_the_same_in_the_api_and_the_csv_exports(bounded, viewer):
    from assessments.footprint.scope_figures import Scope, scope_figures

    inference = bounded["projects"][1]
    expected = scope_figures(scope=Scope(project=inference), start=OCTOBER, end=NOVEMBER)
    assert expected.ranges["sci"].low < expected.ranges["sci"].high
    projects_csv = {row["Project"]: row for row in _csv_rows(viewer, "projects")}
    top_csv = {row["Project"]: row for row in _csv_rows(viewer, "top-projects")}
    by_phase = {row["Phase"]: row for row in _csv_rows(viewer, "by-phase")}
    api = viewer.get(f"/api/v1/projects/{inference.slug}/footprint", _period()).json()
    _ranges_agree(
        expected,
        ("API", _api_ranges(api)),
        ("projects CSV", _csv_ranges(projects_csv[inference.name])),
        ("top-projects CSV", _csv_ranges(top_csv[inference.name])),
        ("by-phase CSV", _csv_ranges(by_phase["Inference"])),
    )
    assert "SCI low (kgCO2e per unit)" in projects_csv[inference.name]
    page = viewer.get(reverse("project_detail", args=[inference.slug]), _period())
    totals = page.context["totals"]
    _ranges_agree(
        expected, ("project page", {n: _ends(totals["ranges"].get(n)) for n in API_NAMES})
    )


def test_without_bounds_on_the_inputs_embodied_carbon_has_no_range_on_the_pages(reported, viewer):
    """With no bound on any hardware model or host, embodied carbon reads its value alone
    (low = value = high), while measured energy keeps NVML's range."""
    from assessments.footprint.scope_figures import Scope, scope_figures
    from assessments.models import HardwareModel
    from assessments.templatetags.greenai import format_with_range

    HardwareModel.objects.update(
        min_kgco2e=None, max_kgco2e=None, lifetime_years_min=None, lifetime_years_max=None
    )
    vision = reported["teams"][1]
    expected = scope_figures(scope=Scope(team=vision), start=OCTOBER, end=NOVEMBER)
    embodied = expected.ranges["embodied_kgco2e"]
    assert embodied.low == expected.embodied_kgco2e == embodied.high
    query = {"start": OCTOBER.isoformat(), "end": NOVEMBER.isoformat()}
    html = viewer.get(reverse("team_detail", args=[vision.slug]), query).content.decode()
    text = format_with_range(expected.embodied_kgco2e, embodied, 1, "kgCO2e")
    assert "(" not in text and f"embodied {text} (<a" in html
    energy = format_with_range(expected.energy_it_kwh, expected.ranges["energy_it_kwh"], 1, "kWh")
    assert "–" in energy and str(range_below(energy)) in html
