"""GET /api/v1/optimisations[/<id>] and /api/v1/recommendations."""

from datetime import date, timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from assessments.decisions import services
from assessments.footprint.footprint_math import day_start
from assessments.models import HourlyProjectFact, Optimisation, Recommendation
from assessments.organisation.services import api_token_create
from tests.assessments.decisions.decisions_factories import (
    PUE,
    at,
    make_device,
    make_organisation,
    make_project,
    make_user,
    write_daily_usage,
)

pytestmark = pytest.mark.django_db

APPLIED = timezone.now().date() - timedelta(days=20)


@pytest.fixture
def optimised():
    """A project whose energy per unit halves on APPLIED, measured up to today."""
    make_organisation(rate=80.0, carbon_price=100.0)
    project = make_project("chat")
    device = make_device()
    write_daily_usage(device, project, APPLIED - timedelta(days=14), 14, it_kwh=10.0, units=100)
    write_daily_usage(device, project, APPLIED + timedelta(days=1), 14, it_kwh=5.0, units=100)
    optimisation = services.optimisation_create(
        project=project,
        technique="quantisation",
        applied_on=APPLIED,
        status="applied",
        engineering_hours=10,
        other_costs=200,
        latency_p50_ms_before=120,
        latency_p50_ms_after=80,
        quality_metric="accuracy (%)",
        quality_before=91.0,
        quality_after=90.6,
    )
    planned = services.optimisation_create(
        project=project, technique="pruning", engineering_hours=4
    )
    return optimisation, planned


@pytest.fixture
def viewer_client(client):
    client.force_login(make_user("vera", "viewer"))
    return client


def recommendation(kind, kgco2e, **fields):
    values = dict(
        kind=kind,
        fingerprint=f"{kind}:{kgco2e}",
        target=f"target {kgco2e}",
        title=f"{kind} {kgco2e}",
        action="Do it.",
        evidence={"idle_hours": 20},
        period_start=at(date(2026, 10, 1)),
        period_end=at(date(2026, 10, 31)),
        monthly_facility_energy_kwh=kgco2e * 2,
        monthly_cost=kgco2e / 2,
        monthly_kgco2e=kgco2e,
        confidence="medium",
    )
    values.update(fields)
    return Recommendation.objects.create(**values)


def test_optimisations_need_a_login(client):
    response = client.get("/api/v1/optimisations")

    assert response.status_code == 401
    assert "error" in response.json()


def test_optimisation_detail_has_the_measured_return(viewer_client, optimised):
    optimisation, _ = optimised

    body = viewer_client.get(f"/api/v1/optimisations/{optimisation.pk}").json()

    assert body["project"] == "chat"
    assert body["technique"] == "quantisation"
    assert body["applied_on"] == APPLIED.isoformat()
    assert body["status"] == "applied"
    assert body["investment"]["total"] == pytest.approx(1000.0)
    assert body["investment"]["currency"] == "EUR"
    assert body["baseline"]["facility_energy_kwh_per_unit"] == pytest.approx(0.15)
    assert body["evaluation"]["facility_energy_kwh_per_unit"] == pytest.approx(0.075)
    assert body["baseline"]["start"] == (APPLIED - timedelta(days=14)).isoformat()
    assert body["evaluation"]["start"] == (APPLIED + timedelta(days=1)).isoformat()
    # Last 30 days hold 10 baseline days and 14 evaluation days of 100 units.
    assert body["monthly_units"] == pytest.approx(2400)
    assert body["monthly_savings"]["facility_energy_kwh"] == pytest.approx(0.075 * 2400)
    assert body["monthly_savings"]["cost"] == pytest.approx(0.015 * 2400)
    assert body["monthly_savings"]["kgco2e"] == pytest.approx(0.03 * 2400)
    assert body["payback_months"] == pytest.approx(1000 / (0.015 * 2400))
    assert body["quality"]["latency_p50_ms"] == {"before": 120.0, "after": 80.0}
    assert body["quality"]["value"] == {"before": 91.0, "after": 90.6}
    assert body["conclusive"] is True
    assert body["estimate"] is None


def test_planned_optimisation_comes_with_its_what_if(viewer_client, optimised):
    _, planned = optimised

    body = viewer_client.get(f"/api/v1/optimisations/{planned.pk}").json()

    assert body["monthly_savings"] == {"facility_energy_kwh": None, "cost": None, "kgco2e": None}
    assert body["payback_months"] is None
    assert body["estimate"]["technique_range"] == "10%-40% (indicative)"
    assert "Deep Compression" in body["estimate"]["source"]


def _energy(project, start: date, end: date) -> tuple[float, float]:
    """(IT kWh, facility kWh) of the project's facts over the UTC days [start, end)."""
    sums = HourlyProjectFact.objects.filter(
        project=project, hour__gte=day_start(start), hour__lt=day_start(end)
    ).aggregate(it=Sum("energy_it_kwh"), facility=Sum("energy_facility_kwh"))
    return sums["it"], sums["facility"]


def test_energy_figures_are_facility_energy_under_facility_names(viewer_client, optimised):
    optimisation, planned = optimised
    project = optimisation.project
    baseline_it, baseline_facility = _energy(project, APPLIED - timedelta(days=14), APPLIED)
    evaluation_it, evaluation_facility = _energy(
        project, APPLIED + timedelta(days=1), APPLIED + timedelta(days=15)
    )
    assert PUE != 1 and baseline_facility == pytest.approx(baseline_it * PUE)
    units = 14 * 100

    body = viewer_client.get(f"/api/v1/optimisations/{optimisation.pk}").json()

    for name, facility in (("baseline", baseline_facility), ("evaluation", evaluation_facility)):
        window = body[name]
        assert "energy_kwh_per_unit" not in window
        assert window["facility_energy_kwh_per_unit"] == pytest.approx(facility / units)
    saved_facility = (baseline_facility - evaluation_facility) / units * body["monthly_units"]
    saved_it = (baseline_it - evaluation_it) / units * body["monthly_units"]
    assert "energy_kwh" not in body["monthly_savings"]
    assert body["monthly_savings"]["facility_energy_kwh"] == pytest.approx(saved_facility)
    assert body["monthly_savings"]["facility_energy_kwh"] != pytest.approx(saved_it)
    assert set(body["monthly_savings_range"]) == {"facility_energy_kwh", "cost", "kgco2e"}

    # A planned optimisation's what-if: the technique's range x the last 30 days' facility energy.
    today = timezone.now().date()
    _, month_facility = _energy(project, today - timedelta(days=30), today)
    estimate = viewer_client.get(f"/api/v1/optimisations/{planned.pk}").json()["estimate"]
    assert "energy_kwh" not in estimate["monthly_savings_low"]
    assert estimate["monthly_savings_low"]["facility_energy_kwh"] == pytest.approx(
        0.10 * month_facility
    )
    assert estimate["monthly_savings_high"]["facility_energy_kwh"] == pytest.approx(
        0.40 * month_facility
    )


def test_openapi_schema_names_the_facility_energy_fields(viewer_client):
    schemas = viewer_client.get("/api/v1/openapi.json").json()["components"]["schemas"]

    assert "facility_energy_kwh_per_unit" in schemas["Window"]["properties"]
    assert "energy_kwh_per_unit" not in schemas["Window"]["properties"]
    assert set(schemas["Savings"]["properties"]) == {"facility_energy_kwh", "cost", "kgco2e"}
    assert "energy_kwh" not in schemas["SavingsRange"]["properties"]


def test_optimisation_list_filters_by_project_and_status(viewer_client, optimised):
    optimisation, planned = optimised

    everything = viewer_client.get("/api/v1/optimisations").json()
    applied = viewer_client.get("/api/v1/optimisations?status=applied&project=chat").json()

    assert everything["count"] == 2
    assert [o["id"] for o in applied["optimisations"]] == [optimisation.pk]


def test_bad_filters_and_unknown_ids_get_clear_errors(viewer_client, optimised):
    bad = viewer_client.get("/api/v1/optimisations?status=done")
    unknown_project = viewer_client.get("/api/v1/optimisations?project=nope")
    unknown = viewer_client.get("/api/v1/optimisations/999999")
    bad_kind = viewer_client.get("/api/v1/recommendations?kind=magic")

    assert bad.status_code == 400
    assert "status" in bad.json()["error"]
    assert unknown_project.status_code == 404
    assert unknown.status_code == 404
    assert bad_kind.status_code == 400


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/api/v1/optimisations", "status"),
        ("/api/v1/optimisations", "technique"),
        ("/api/v1/recommendations", "status"),
        ("/api/v1/recommendations", "kind"),
        ("/api/v1/recommendations", "order"),
    ],
)
def test_an_empty_filter_value_is_a_400_naming_the_parameter(viewer_client, optimised, url, name):
    """`?status=` is not a value of the schema's enum: refused, not read as "no filter"."""
    response = viewer_client.get(f"{url}?{name}=")

    assert response.status_code == 400
    assert f"'{name}'" in response.json()["error"]
    assert response.json()["details"] == [{"field": name, "message": "not one of the values"}]


def test_recommendations_come_largest_saving_first_with_their_savings(viewer_client):
    make_organisation()
    small = recommendation("idle_gpu", 5.0)
    large = recommendation("power_cap", 50.0)
    dismissed = recommendation("site_choice", 20.0, status="dismissed", dismissed_reason="No.")

    body = viewer_client.get("/api/v1/recommendations").json()
    open_only = viewer_client.get("/api/v1/recommendations?status=open").json()
    by_cost = viewer_client.get("/api/v1/recommendations?order=cost&kind=idle_gpu").json()

    assert [r["id"] for r in body["recommendations"]] == [large.pk, dismissed.pk, small.pk]
    first = body["recommendations"][0]
    assert first["kind"] == "power_cap"
    assert first["target"] == "target 50.0"
    assert first["estimated_monthly_savings"] == {
        "facility_energy_kwh": 100.0,
        "cost": 25.0,
        "kgco2e": 50.0,
    }
    assert first["confidence"] == "medium"
    assert first["status"] == "open"
    assert first["evidence"] == {"idle_hours": 20}
    assert [r["id"] for r in open_only["recommendations"]] == [large.pk, small.pk]
    assert [r["id"] for r in by_cost["recommendations"]] == [small.pk]


def test_a_personal_token_reads_the_decisions_api(client, optimised):
    user = make_user("tom", "viewer")
    _, token = api_token_create(user=user, name="script")

    response = client.get("/api/v1/optimisations", HTTP_AUTHORIZATION=f"Bearer {token}")
    refused = client.get("/api/v1/recommendations", HTTP_AUTHORIZATION="Bearer gat_wrong")

    assert response.status_code == 200
    assert response.json()["count"] == Optimisation.objects.count()
    assert refused.status_code == 401


def test_openapi_schema_documents_the_decisions_endpoints(viewer_client):
    schema = viewer_client.get("/api/v1/openapi.json").json()

    assert "/api/v1/optimisations" in schema["paths"]
    assert "/api/v1/optimisations/{pk}" in schema["paths"]
    assert "/api/v1/recommendations" in schema["paths"]
    assert "OptimisationOut" in schema["components"]["schemas"]
