"""Versions side by side: the page, its CSV and its chart show version_footprint's figures
(scenario.py's hand-computed assistant; model "multi" of the same team beside it)."""

import csv
import io

import pytest
from django.urls import reverse

from assessments.ai_systems.selectors import version_footprint
from assessments.footprint.footprint_math import cost_per_1k_requests
from assessments.models import UserProfile
from assessments.reports.render import _chart_specs
from tests.assessments.ai_systems.factories import system, version, window
from tests.assessments.ai_systems.scenario import (
    EXPECTED,
    EXPECTED_RANGES,
    PERIOD,
    PERIOD_QUERY,
    bound_the_pue,
    build_assistant,
    take_meters_as_exact,
)
from tests.assessments.dashboards.page_factories import make_user

pytestmark = pytest.mark.django_db
approx = pytest.approx


@pytest.fixture
def assistant():
    owner, first, second = build_assistant()
    second.quality_metric, second.quality_value = "MMLU accuracy", 0.71
    second.latency_p50_ms, second.latency_p95_ms = 120.0, 480.0
    second.save()
    return owner, first, second


@pytest.fixture
def reader(client):
    client.force_login(make_user("vera", UserProfile.Role.VIEWER))
    return client


def csv_rows(client, slug="assistant", **query):
    answer = client.get(reverse("version_comparison_csv", args=[slug]), {**PERIOD_QUERY, **query})
    assert answer.status_code == 200, answer.content
    return list(csv.DictReader(io.StringIO(answer.content.decode())))


def number(text: str) -> float | None:
    return float(text) if text else None


def test_the_csv_holds_each_versions_footprint(reader, assistant):
    _, first, second = assistant
    rows = csv_rows(reader)
    assert [(row["Model"], row["Version"]) for row in rows] == [
        ("assistant", "1.0"),
        ("assistant", "2.0"),
    ]
    for row, made in zip(rows, (first, second), strict=True):
        footprint = version_footprint(made, **PERIOD)
        assert number(row["IT energy per 1 M output tokens (kWh)"]) == approx(
            footprint.energy_kwh_per_1m_output_tokens
        )
        assert number(row["Carbon per 1,000 requests, serving (kgCO2e)"]) == approx(
            footprint.kgco2e_per_1k_requests
        )
        assert number(row["Carbon per 1,000 requests, lifecycle (kgCO2e)"]) == approx(
            footprint.lifecycle_kgco2e_per_1k_requests
        )
        assert number(row["Serving cost in the period (EUR)"]) == approx(footprint.serving.cost)
        assert number(row["One-off cost (EUR)"]) == approx(footprint.one_off.cost)
        assert number(row["Requests (count)"]) == approx(footprint.requests)
    served = rows[1]
    # The hand computation (scenario.py): 0.3 kWh per 1 M output tokens, 0.116 and 0.168 kg
    # per 1,000 requests; 0.90 EUR over 50,000 requests = 0.018 EUR per 1,000.
    assert number(served["IT energy per 1 M output tokens (kWh)"]) == approx(0.3)
    assert number(served["Carbon per 1,000 requests, serving (kgCO2e)"]) == approx(0.116)
    assert number(served["Carbon per 1,000 requests, lifecycle (kgCO2e)"]) == approx(0.168)
    assert number(served["Cost per 1,000 requests, serving (EUR)"]) == approx(0.018)
    assert number(served["One-off cost (EUR)"]) == approx(EXPECTED["one_off"]["cost"])
    assert (served["Quality metric"], served["Quality"]) == ("MMLU accuracy", "0.71")
    assert (served["Latency p50 (ms)"], served["Latency p95 (ms)"]) == ("120.0", "480.0")
    assert (served["Parent"], served["Relation"]) == ("1.0", "distilled")
    never_served = rows[0]
    assert never_served["Carbon per 1,000 requests, serving (kgCO2e)"] == ""
    assert never_served["Cost per 1,000 requests, serving (EUR)"] == ""


def test_the_csv_and_the_page_carry_each_figures_range(reader, assistant, monkeypatch):
    bound_the_pue()
    take_meters_as_exact(monkeypatch)
    second = csv_rows(reader)[1]
    lifecycle = "Carbon per 1,000 requests, lifecycle"
    assert (
        number(second[f"{lifecycle} low (kgCO2e)"]),
        number(second[f"{lifecycle} high (kgCO2e)"]),
    ) == (
        approx(EXPECTED_RANGES["lifecycle_kgco2e_per_1k_requests"][0]),
        approx(EXPECTED_RANGES["lifecycle_kgco2e_per_1k_requests"][1]),
    )
    serving = "Carbon per 1,000 requests, serving"
    assert (
        number(second[f"{serving} low (kgCO2e)"]),
        number(second[f"{serving} high (kgCO2e)"]),
    ) == (
        approx(0.1088),
        approx(0.1232),
    )
    # Cost by hand: 3 kWh x PUE 1.2 to 1.8 x 0.2 EUR/kWh = 0.72 to 1.08 EUR over 50,000 requests.
    cost = "Serving cost in the period"
    assert (number(second[f"{cost} low (EUR)"]), number(second[f"{cost} high (EUR)"])) == (
        approx(0.72),
        approx(1.08),
    )
    per_1k = "Cost per 1,000 requests, serving"
    assert (number(second[f"{per_1k} low (EUR)"]), number(second[f"{per_1k} high (EUR)"])) == (
        approx(0.0144),
        approx(0.0216),
    )
    html = reader.get(reverse("version_comparison", args=["assistant"]), PERIOD_QUERY).content
    cells = html.decode()
    assert "0.1680 (0.1584–0.1776)" in cells and "0.0180 (0.0144–0.0216)" in cells


def test_cost_per_thousand_requests_needs_requests():
    assert cost_per_1k_requests(0.9, 50_000) == approx(0.018)
    assert cost_per_1k_requests(0.9, 0) is None


def test_the_page_shows_the_table_and_the_chart_plots_energy_against_quality(reader, assistant):
    page = reader.get(reverse("version_comparison", args=["assistant"]), PERIOD_QUERY)
    assert page.status_code == 200
    html = page.content.decode()
    assert "versions side by side" in html and "MMLU accuracy" in html
    assert reverse("version_comparison_csv", args=["assistant"]) in html
    chart = reader.get(reverse("version_comparison_chart", args=["assistant"]), PERIOD_QUERY)
    figure = chart.json()
    points = [trace for trace in figure["data"] if trace.get("x")]
    assert len(points) == 1  # 1.0 was never served: no energy per token to plot
    assert points[0]["name"] == "MMLU accuracy"
    assert points[0]["x"] == [approx(0.3)] and points[0]["y"] == [approx(0.71)]
    assert points[0]["text"] == ["assistant 2.0"]


def test_versions_of_other_models_of_the_team_stand_beside_it(reader, assistant):
    small = version(
        system("small"), "0.1", produced_by=[window("base-train", "2026-08-01", "2026-08-05")]
    )
    rows = csv_rows(reader, **{"with": "small"})
    assert [(row["Model"], row["Version"]) for row in rows] == [
        ("assistant", "1.0"),
        ("assistant", "2.0"),
        ("small", "0.1"),
    ]
    # Its one-off is base-train's hour: 1.5 kWh facility x 0.20 EUR = 0.30 EUR.
    assert number(rows[2]["One-off cost (EUR)"]) == approx(0.3)
    assert number(rows[2]["One-off cost (EUR)"]) == approx(
        version_footprint(small, **PERIOD).one_off.cost
    )
    assert csv_rows(reader)[-1]["Model"] == "assistant"


@pytest.mark.parametrize(
    "query, parameter",
    [
        ({"with": "vision"}, "with"),
        ({"with": "no-such-model"}, "with"),
        ({"with": "assistant"}, "with"),
        ({"start": "2026-02-30"}, "start"),
        ({"start": "2026-12-01", "end": "2026-10-01"}, "start/end"),
        ({"start": "9999-12-31", "end": ""}, "start/end"),
    ],
)
def test_refused_filters_answer_400_naming_the_parameter(reader, assistant, query, parameter):
    version(system("vision", team_name="CV"), "1")
    query = {**PERIOD_QUERY, **query}
    page = reader.get(reverse("version_comparison", args=["assistant"]), query)
    assert page.status_code == 400
    assert f"Query parameter '{parameter}'" in page.content.decode()
    exported = reader.get(reverse("version_comparison_csv", args=["assistant"]), query)
    assert exported.status_code == 400
    assert f"Query parameter {parameter!r}" in exported.content.decode()
    chart = reader.get(reverse("version_comparison_chart", args=["assistant"]), query)
    assert chart.status_code == 400


def test_an_unknown_model_is_a_404_and_the_page_asks_for_a_login(client, assistant):
    assert client.get(reverse("version_comparison", args=["assistant"])).status_code == 302
    client.force_login(make_user("vera", UserProfile.Role.VIEWER))
    assert client.get(reverse("version_comparison", args=["nope"])).status_code == 404
    assert client.get(reverse("version_comparison_csv", args=["nope"])).status_code == 404


def test_the_monthly_report_draws_the_same_energy_against_quality_figure(assistant):
    specs = _chart_specs(**PERIOD, team=None, hosts=[], currency="EUR")
    spec = next(spec for spec in specs if spec["name"] == "energy-quality")
    assert spec["section"] == "ai_systems"
    (trace,) = [trace for trace in spec["figure"].data if trace.x]
    assert list(trace.x) == [approx(0.3)] and list(trace.y) == [approx(0.71)]
    assert list(trace.text) == ["assistant 2.0"]
