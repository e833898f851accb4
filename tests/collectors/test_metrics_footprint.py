"""Footprint gauges on /metrics: only with METRICS_TOKEN (then required), and the read API's
figures for the same scope and days (docs/metrics.md)."""

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from assessments.codecarbon.services import experiment_register
from assessments.footprint.rollup import rollup_dirty_hours
from assessments.models import UserProfile
from collectors.services import collector_create
from tests.assessments.codecarbon.test_codecarbon_api import (
    EXPERIMENT,
    emission_body,
    new_run,
    post,
)
from tests.assessments.footprint.rollup_factories import (
    add_samples,
    make_allocation,
    make_device,
    make_host,
    make_project,
    make_site,
)

TOKEN = "metrics-token-0123456789abcdef"
FOOTPRINT_NAMES = (
    "greenai_footprint_energy_kwh",
    "greenai_footprint_energy_it_kwh",
    "greenai_footprint_carbon_kgco2e",
    "greenai_footprint_cost",
)
# Gauge -> the read API's field for the same figure.
API_FIELDS = {
    "greenai_footprint_energy_kwh": "facility_energy_kwh",
    "greenai_footprint_energy_it_kwh": "energy_kwh",
    "greenai_footprint_carbon_kgco2e": "total_kgco2e",
    "greenai_footprint_cost": "cost",
}


def metrics_footprint_cache_key() -> str:
    from collectors.metrics import _FOOTPRINT_CACHE_KEY

    return _FOOTPRINT_CACHE_KEY.format(day=timezone.now().date().isoformat())


def scrape_series(client, **headers) -> list:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return [
        sample
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    ]


def gauge(series, name: str, **labels) -> float:
    found = [s.value for s in series if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels, [s for s in series if s.name == name])
    return found[0]


@pytest.fixture
def fleet(db, client):
    """Two teams' projects measured by the agent today (and yesterday, within this month),
    and a third project of team NLP reported by CodeCarbon only."""
    now = timezone.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    site = make_site("lab")
    llm = make_project(slug="llm", team_name="NLP")
    vision = make_project(slug="detector", team_name="Vision")
    offline = make_project(slug="offline", team_name="NLP")
    hosts = []
    for project, watts in ((llm, 400.0), (vision, 250.0)):
        host = make_host(site=site)
        make_allocation(project, host, start=midnight.replace(day=1) - timezone.timedelta(days=1))
        device = make_device(
            host, first_seen_at=midnight.replace(day=1) - timezone.timedelta(days=1)
        )
        # The day's first minute, and yesterday's when yesterday is in this month.
        add_samples(device, end=midnight + timezone.timedelta(seconds=60), count=60, power_w=watts)
        if midnight.day > 1:
            add_samples(device, end=midnight - timezone.timedelta(hours=2), count=30, power_w=watts)
        hosts.append(host)
    rollup_dirty_hours()

    experiment_register(project=offline, experiment_id=EXPERIMENT)
    _, cc_token = collector_create(name="nlp-cc", team=offline.team)
    run_id = new_run(client, cc_token)
    ended = (now - timezone.timedelta(seconds=5)).isoformat()
    answer = post(
        client, "emissions", emission_body(run_id, ts=ended, kwh=0.2, duration=1), cc_token
    )
    assert answer.status_code == 201, answer.content
    return {"site": site, "teams": [llm.team, vision.team], "projects": [llm, vision, offline]}


@pytest.fixture
def api(client):
    account = User.objects.create_user("viewer-metrics")
    UserProfile.objects.create(user=account, role="viewer")

    def get(path, start, end, **query):
        client.force_login(account)
        query.update(start=start.isoformat(), end=end.isoformat())
        response = client.get(path, query)
        client.logout()
        assert response.status_code == 200, response.content
        return response.json()

    return get


def test_without_metrics_token_no_team_project_or_site_series(fleet, client, settings):
    settings.METRICS_TOKEN = ""
    series = scrape_series(client)
    assert series, "the ingest and rollup figures are still there"
    assert not [s for s in series if s.name.startswith("greenai_footprint_")]
    assert not [s for s in series if {"team", "project", "site"} & set(s.labels)]


def test_with_metrics_token_a_scrape_without_it_or_with_another_gets_401(fleet, client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    assert b"greenai_footprint" not in wrong.content


def test_footprint_gauges_equal_the_read_api_for_the_same_scopes_and_days(
    fleet, client, settings, api
):
    settings.METRICS_TOKEN = TOKEN
    series = scrape_series(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    today = timezone.now().date()
    tomorrow = today + timezone.timedelta(days=1)
    windows = {"today": today, "month": today.replace(day=1)}
    checked = 0
    for window, start in windows.items():
        scopes = [
            ({"organisation": "My organisation"}, "/api/v1/footprint", {}),
            ({"site": "lab"}, "/api/v1/footprint", {"site": "lab"}),
        ]
        scopes += [
            ({"team": t.slug}, f"/api/v1/teams/{t.slug}/footprint", {}) for t in fleet["teams"]
        ]
        scopes += [
            ({"project": p.slug}, f"/api/v1/projects/{p.slug}/footprint", {})
            for p in fleet["projects"]
        ]
        for labels, path, query in scopes:
            figures = api(path, start, tomorrow, **query)
            for name, field in API_FIELDS.items():
                extra = (
                    {"currency": figures["currency"]} if name == "greenai_footprint_cost" else {}
                )
                value = gauge(series, name, **labels, window=window, **extra)
                tolerance = 1e-12
                if name == "greenai_footprint_carbon_kgco2e" and {"organisation", "site"} & set(
                    labels
                ):
                    # The embodied carbon of in-service hours nothing measured counts up to
                    # "now", which moves between the scrape and the API call: the test's two
                    # GPUs add 4 kg an hour, 0.05 kg in 45 s.
                    tolerance = 0.05
                assert value == pytest.approx(figures[field], rel=1e-9, abs=tolerance), (
                    name,
                    labels,
                    window,
                )
                checked += 1
    assert checked == 2 * 7 * len(API_FIELDS)
    # Figures that mean something: the agent's and CodeCarbon's energy both reached them.
    nlp_today = gauge(series, "greenai_footprint_energy_it_kwh", team="nlp", window="today")
    assert nlp_today == pytest.approx(400 * 60 / 3.6e6 + 0.2, rel=1e-6)
    organisation = gauge(
        series, "greenai_footprint_energy_it_kwh", organisation="My organisation", window="today"
    )
    assert organisation == pytest.approx((400 + 250) * 60 / 3.6e6 + 0.2, rel=1e-6)


def test_footprint_figures_are_served_from_the_cache_until_it_expires(fleet, client, settings):
    settings.METRICS_TOKEN = TOKEN
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    first = gauge(
        scrape_series(client, **auth), "greenai_footprint_energy_it_kwh", team="nlp", window="month"
    )
    # More of team NLP's energy is rolled up: the cached figures stay until they expire.
    device = make_device(make_host(site=fleet["site"]))
    make_allocation(
        fleet["projects"][0], device.host, start=timezone.now() - timezone.timedelta(days=1)
    )
    # Within today (and so this month) whatever the time of day.
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    add_samples(device, end=midnight + timezone.timedelta(minutes=5), count=36, power_w=100.0)
    rollup_dirty_hours()
    cached = gauge(
        scrape_series(client, **auth), "greenai_footprint_energy_it_kwh", team="nlp", window="month"
    )
    assert cached == first
    cache.delete(metrics_footprint_cache_key())
    fresh = gauge(
        scrape_series(client, **auth), "greenai_footprint_energy_it_kwh", team="nlp", window="month"
    )
    assert fresh == pytest.approx(first + 100 * 36 / 3.6e6, rel=1e-9)


def test_a_database_error_leaves_the_footprint_out_and_the_rest_in(
    fleet, client, settings, monkeypatch
):
    from django.db import OperationalError

    from collectors import metrics

    def unreachable(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(metrics, "footprint_totals", unreachable)
    settings.METRICS_TOKEN = TOKEN
    series = scrape_series(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert not [s for s in series if s.name.startswith("greenai_footprint_")]
    assert [s for s in series if s.name == "greenai_collectors"]


def test_budget_gauges_equal_the_budgets_api_and_need_the_token(fleet, client, settings, api):
    from assessments.models import Budget

    nlp, vision = fleet["teams"]
    Budget.objects.create(team=nlp, metric="kwh_it", period="month", limit=0.5)
    Budget.objects.create(project=fleet["projects"][1], metric="cost", period="year", limit=2)
    settings.METRICS_TOKEN = ""
    assert not [s for s in scrape_series(client) if s.name.startswith("greenai_budget_")]

    settings.METRICS_TOKEN = TOKEN
    series = scrape_series(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    today = timezone.now().date()
    budgets = api("/api/v1/budgets", today, today)["budgets"]
    assert {b["scope"] for b in budgets} == {f"team:{nlp.slug}", "project:detector"}
    for budget in budgets:
        labels = {"scope": budget["scope"], "metric": budget["metric"], "period": budget["period"]}
        used = gauge(series, "greenai_budget_used_ratio", **labels)
        forecast = gauge(series, "greenai_budget_forecast_ratio", **labels)
        assert used == pytest.approx(budget["used"] / budget["limit"], rel=1e-6)
        assert forecast == pytest.approx(budget["forecast"]["value"] / budget["limit"], rel=1e-6)
    # Team NLP used its agent energy and CodeCarbon's 0.2 kWh of a 0.5 kWh budget at least.
    assert (
        gauge(
            series,
            "greenai_budget_used_ratio",
            scope=f"team:{nlp.slug}",
            metric="kwh_it",
            period="month",
        )
        >= 0.2 / 0.5
    )
