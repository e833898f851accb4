"""The ROI page, the optimisation form, the recommendations page and their permissions."""

import re
from datetime import date, timedelta

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from assessments.decisions import selectors, services
from assessments.models import Optimisation, Recommendation
from assessments.templatetags.greenai import format_number
from tests.assessments.decisions.decisions_factories import (
    at,
    make_device,
    make_organisation,
    make_project,
    make_team,
    make_user,
    write_daily_usage,
)

pytestmark = pytest.mark.django_db

APPLIED = timezone.now().date() - timedelta(days=20)


@pytest.fixture
def world():
    make_organisation(rate=80.0, carbon_price=100.0)
    nlp, vision = make_team("NLP"), make_team("Vision")
    chat = make_project("chat", team=nlp)
    detector = make_project("detector", team=vision, phase="training")
    device = make_device()
    # Noisy days, so the bootstrap range is a real range.
    for offset in range(14):
        day = APPLIED - timedelta(days=14 - offset)
        write_daily_usage(device, chat, day, 1, it_kwh=9.0 + offset % 3, units=100)
        day = APPLIED + timedelta(days=1 + offset)
        write_daily_usage(device, chat, day, 1, it_kwh=4.5 + offset % 4, units=100)
    optimisation = services.optimisation_create(
        project=chat,
        technique="quantisation",
        title="INT8 serving",
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
    return {
        "nlp": nlp,
        "vision": vision,
        "chat": chat,
        "detector": detector,
        "optimisation": optimisation,
        "viewer": make_user("vera", "viewer"),
        "engineer": make_user("nina", "engineer", teams=[nlp]),
        "outsider": make_user("otto", "engineer", teams=[vision]),
        "admin": make_user("ada", "admin"),
    }


def row_html(page: str, optimisation_id: int) -> str:
    match = re.search(rf'<tr id="optimisation-{optimisation_id}".*?</tr>', page, flags=re.DOTALL)
    assert match, "row not found"
    return match.group(0)


def cell(row: str, field: str) -> str:
    match = re.search(rf'data-field="{field}">([^<]*)', row)
    assert match, f"no {field} cell"
    return match.group(1).strip()


# --- ROI page ---------------------------------------------------------------------------------


def test_roi_page_shows_the_same_numbers_as_the_api(client, world):
    client.force_login(world["viewer"])
    optimisation = world["optimisation"]

    page = client.get("/roi/").content.decode()
    api = client.get(f"/api/v1/optimisations/{optimisation.pk}").json()

    row = row_html(page, optimisation.pk)
    savings = api["monthly_savings"]
    assert cell(row, "investment") == format_number(api["investment"]["total"], 2)
    assert cell(row, "energy") == format_number(savings["facility_energy_kwh"], 1)
    assert cell(row, "cost") == format_number(savings["cost"], 2)
    assert cell(row, "kgco2e") == format_number(savings["kgco2e"], 1)
    assert cell(row, "payback") == format_number(api["payback_months"], 1)
    assert cell(row, "net-3y") == format_number(api["net_return_3y"], 2)
    low = api["monthly_savings_range"]["facility_energy_kwh"]["low"]
    high = api["monthly_savings_range"]["facility_energy_kwh"]["high"]
    assert low < savings["facility_energy_kwh"] < high
    assert f"5–95%: {format_number(low, 1)} to {format_number(high, 1)}" in row
    kpi = page[page.index('data-kpi="monthly-cost"') :]
    assert f"{format_number(savings['cost'], 2)} EUR" in kpi[: kpi.index("</div>\n  </div>")]


def test_roi_page_shows_quality_trade_offs_and_the_method(client, world):
    client.force_login(world["viewer"])

    page = client.get("/roi/").content.decode()

    tradeoff = re.search(
        rf'<tr data-tradeoff="{world["optimisation"].pk}">.*?</tr>', page, flags=re.DOTALL
    ).group(0)
    assert "120.0 → 80.0" in tradeoff
    assert "91.00 → 90.60" in tradeoff
    assert "accuracy (%)" in tradeoff
    assert "bootstrap" in page
    assert "Han, Mao and Dally" in page  # the what-if ranges name their sources
    assert "Record an optimisation" not in page  # viewers record nothing


def test_roi_page_warns_where_data_is_too_thin(client, world):
    thin = services.optimisation_create(
        project=world["chat"],
        technique="batching",
        applied_on=timezone.now().date() - timedelta(days=3),
        status="applied",
    )
    client.force_login(world["viewer"])

    page = client.get("/roi/").content.decode()

    detail = re.search(
        rf'data-detail="{thin.pk}".*?end detail {thin.pk}', page, flags=re.DOTALL
    ).group(0)
    assert "no recorded units of work: cannot conclude" in detail
    assert "still running: 2 of 14 days" in detail
    assert "What-if: 20%-50% (indicative)" in detail
    assert "not conclusive" in row_html(page, thin.pk)


def test_roi_chart_draws_cumulative_savings_against_investment(client, world):
    client.force_login(world["viewer"])

    figure = client.get("/roi/chart.json").json()

    names = [trace["name"] for trace in figure["data"]]
    assert "INT8 serving: saved" in names
    assert "INT8 serving: investment" in names
    investment = next(t for t in figure["data"] if t["name"] == "INT8 serving: investment")
    assert investment["y"] == [1000.0, 1000.0]


def test_roi_chart_needs_a_login(client, world):
    assert client.get("/roi/chart.json").status_code == 401


# --- Optimisation form ------------------------------------------------------------------------


def form_data(project, **values):
    data = {
        "project": project.pk,
        "technique": "pruning",
        "title": "",
        "status": "planned",
        "applied_on": "",
        "engineering_hours": "12",
        "hourly_rate": "",
        "other_costs": "50",
        "baseline_days": "14",
        "evaluation_days": "14",
    }
    data.update(values)
    return data


def test_engineer_records_an_optimisation_for_their_team(client, world):
    client.force_login(world["engineer"])

    response = client.post("/roi/optimisations/new/", form_data(world["chat"]))

    assert response.status_code == 302
    created = Optimisation.objects.get(technique="pruning")
    assert created.project == world["chat"]
    assert created.created_by == world["engineer"]
    assert created.title == "Pruning on Chat"
    assert created.engineering_hours == 12


def test_applied_optimisation_without_a_date_is_refused_with_the_reason(client, world):
    client.force_login(world["engineer"])

    response = client.post(
        "/roi/optimisations/new/", form_data(world["chat"], status="applied", applied_on="")
    )

    assert response.status_code == 200
    assert "needs the date it was applied" in response.content.decode()
    assert not Optimisation.objects.filter(technique="pruning").exists()


def test_viewer_may_not_open_the_optimisation_form(client, world):
    client.force_login(world["viewer"])

    assert client.get("/roi/optimisations/new/").status_code == 403
    assert client.post("/roi/optimisations/new/", form_data(world["chat"])).status_code == 403


def test_other_teams_engineer_may_not_edit_or_record_for_the_project(client, world):
    client.force_login(world["outsider"])
    optimisation = world["optimisation"]

    edit = client.post(
        f"/roi/optimisations/{optimisation.pk}/edit/", form_data(world["chat"], title="Hijack")
    )
    create = client.post("/roi/optimisations/new/", form_data(world["chat"]))

    assert edit.status_code == 403
    # The project is not among the outsider's choices: the form refuses it.
    assert create.status_code == 200
    assert "Select a valid choice" in create.content.decode()
    optimisation.refresh_from_db()
    assert optimisation.title == "INT8 serving"
    assert not Optimisation.objects.filter(technique="pruning").exists()


def test_engineer_edits_the_quality_figures(client, world):
    client.force_login(world["engineer"])
    optimisation = world["optimisation"]
    data = form_data(
        world["chat"],
        technique="quantisation",
        title="INT8 serving",
        status="applied",
        applied_on=APPLIED.isoformat(),
        engineering_hours="10",
        other_costs="200",
        quality_metric="accuracy (%)",
        quality_before="91",
        quality_after="90.9",
    )

    response = client.post(f"/roi/optimisations/{optimisation.pk}/edit/", data)

    assert response.status_code == 302
    optimisation.refresh_from_db()
    assert optimisation.quality_after == 90.9


# --- Recommendations page ---------------------------------------------------------------------


def make_recommendation(kind, kgco2e, project=None, **fields):
    values = dict(
        kind=kind,
        fingerprint=f"{kind}:{kgco2e}",
        target=f"target {kgco2e}",
        title=f"Title {kind} {kgco2e}",
        action="Do it.",
        evidence={
            "period": {"start": "2026-10-01T00:00:00+00:00", "end": "2026-10-31T00:00:00+00:00"},
            "idle_facility_energy_kwh": 12.5,
        },
        period_start=at(date(2026, 10, 1)),
        period_end=at(date(2026, 10, 31)),
        monthly_facility_energy_kwh=kgco2e * 2,
        monthly_cost=kgco2e / 2,
        monthly_kgco2e=kgco2e,
        confidence="medium",
        project=project,
    )
    values.update(fields)
    return Recommendation.objects.create(**values)


def test_recommendations_page_orders_by_saving_and_shows_evidence_with_units(client, world):
    small = make_recommendation("idle_gpu", 5.0)
    large = make_recommendation("power_cap", 50.0, project=world["chat"])
    client.force_login(world["viewer"])

    page = client.get("/recommendations/").content.decode()

    assert page.index(f'id="recommendation-{large.pk}"') < page.index(
        f'id="recommendation-{small.pk}"'
    )
    assert 'data-field="kgco2e">50.0<' in page
    assert 'data-field="cost">25.00<' in page
    assert "Carbon (kgCO2e/month)" in page and "Money (EUR/month)" in page
    assert "Idle facility energy" in page and "12.50 kWh" in page
    assert "2026-10-01 00:00 – 2026-10-31 00:00" in page
    assert "/accept/" not in page  # viewers decide nothing


def test_engineer_accepts_a_recommendation_into_a_planned_optimisation(client, world):
    recommendation = make_recommendation("power_cap", 50.0, project=world["chat"])
    client.force_login(world["engineer"])

    response = client.post(f"/recommendations/{recommendation.pk}/accept/")

    recommendation.refresh_from_db()
    assert recommendation.status == "accepted"
    assert recommendation.optimisation.technique == "power_cap"
    assert recommendation.optimisation.status == "planned"
    assert response.url == f"/roi/optimisations/{recommendation.optimisation_id}/edit/"


def test_hardware_recommendation_is_accepted_into_a_chosen_project(client, world):
    recommendation = make_recommendation("idle_gpu", 5.0)
    client.force_login(world["engineer"])

    client.post(f"/recommendations/{recommendation.pk}/accept/", {"project": world["chat"].pk})
    refused = client.post(
        f"/recommendations/{recommendation.pk}/accept/", {"project": world["detector"].pk}
    )

    recommendation.refresh_from_db()
    assert recommendation.status == "accepted"
    assert recommendation.optimisation.project == world["chat"]
    assert refused.status_code == 302  # not one of the engineer's projects: nothing done
    assert Optimisation.objects.filter(project=world["detector"]).count() == 0


def test_dismissing_requires_a_reason(client, world):
    recommendation = make_recommendation("power_cap", 50.0, project=world["chat"])
    client.force_login(world["engineer"])

    client.post(f"/recommendations/{recommendation.pk}/dismiss/", {"reason": "  "})
    recommendation.refresh_from_db()
    assert recommendation.status == "open"

    client.post(f"/recommendations/{recommendation.pk}/dismiss/", {"reason": "Latency SLO."})
    recommendation.refresh_from_db()
    assert recommendation.status == "dismissed"
    assert recommendation.dismissed_reason == "Latency SLO."
    assert recommendation.decided_by == world["engineer"]


def test_viewer_and_other_teams_engineer_may_not_decide(client, world):
    recommendation = make_recommendation("power_cap", 50.0, project=world["chat"])

    client.force_login(world["viewer"])
    viewer_accept = client.post(f"/recommendations/{recommendation.pk}/accept/")
    client.force_login(world["outsider"])
    outsider_accept = client.post(f"/recommendations/{recommendation.pk}/accept/")
    outsider_dismiss = client.post(
        f"/recommendations/{recommendation.pk}/dismiss/", {"reason": "Not mine."}
    )

    assert viewer_accept.status_code == 403
    assert outsider_accept.status_code == 403
    assert outsider_dismiss.status_code == 403
    recommendation.refresh_from_db()
    assert recommendation.status == "open"


def test_admin_may_decide_for_any_team(client, world):
    recommendation = make_recommendation("power_cap", 50.0, project=world["detector"])
    client.force_login(world["admin"])

    client.post(f"/recommendations/{recommendation.pk}/dismiss/", {"reason": "Known."})

    recommendation.refresh_from_db()
    assert recommendation.status == "dismissed"


def test_overview_slot_shows_top_recommendations_and_verified_savings(world):
    make_recommendation("power_cap", 50.0, project=world["chat"])
    make_recommendation("site_choice", 20.0, status="dismissed", dismissed_reason="No.")
    services.optimisations_verify()
    verified = selectors.verified_savings_total()

    html = render_to_string("assessments/_overview_decisions.html")

    assert verified.count == 1
    assert format_number(verified.cost, 2) + " EUR" in html
    assert "Title power_cap 50.0" in html
    assert "site_choice" not in html


def test_pages_follow_the_team_filter(client, world):
    make_recommendation("power_cap", 50.0, project=world["chat"])
    make_recommendation("idle_gpu", 5.0)
    client.force_login(world["viewer"])
    other_team = f"?team={world['vision'].slug}"

    roi = client.get("/roi/" + other_team).content.decode()
    recommendations = client.get("/recommendations/" + other_team).content.decode()

    assert "INT8 serving" not in roi
    assert "Title power_cap 50.0" not in recommendations
    assert "Title idle_gpu 5.0" in recommendations  # hardware is every team's concern
    assert "INT8 serving" in client.get(f"/roi/?team={world['nlp'].slug}").content.decode()


def test_recommendations_page_shows_the_same_savings_as_the_api(client, world):
    recommendation = make_recommendation("power_cap", 12.3456, project=world["chat"])
    client.force_login(world["viewer"])

    page = client.get("/recommendations/").content.decode()
    [api] = client.get("/api/v1/recommendations").json()["recommendations"]

    # The row's cells come first after its start (its evidence table has no data-field).
    row = page[page.index(f'<tr id="recommendation-{recommendation.pk}"') :]
    savings = api["estimated_monthly_savings"]
    assert cell(row, "kgco2e") == format_number(savings["kgco2e"], 1)
    assert cell(row, "cost") == format_number(savings["cost"], 2)
    assert cell(row, "energy") == format_number(savings["facility_energy_kwh"], 1)


def test_overview_slot_follows_the_team_filter(world):
    make_recommendation("power_cap", 50.0, project=world["chat"])
    services.optimisations_verify()

    class Filters:
        team = world["vision"]

    html = render_to_string("assessments/_overview_decisions.html", {"filters": Filters()})

    assert "Title power_cap 50.0" not in html
    assert "0 verified optimisations" in html
