"""Dashboard pages, chart JSON and CSV exports show the facts' numbers, with units."""

import csv
import io
from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from assessments.dashboards import selectors as dashboards
from assessments.dashboards.dashboard_math import month_comparison
from assessments.footprint.daily_facts import daily_facts_refresh
from assessments.models import (
    ApiToken,
    DailyProjectFact,
    HourlyProjectFact,
    UserProfile,
    WorkRecord,
)
from collectors.models import Collector, IngestRejection
from collectors.selectors import COLLECTOR_TOKEN_KIND
from greenai_site.tokens import digest_matches
from tests.assessments.dashboards import page_factories as pf

Role = UserProfile.Role


@pytest.fixture
def world(db):
    return pf.make_world()


@pytest.fixture
def viewer_client(client, world):
    client.force_login(pf.make_user("viewer", Role.VIEWER))
    return client


@pytest.fixture
def engineer_client(client, world):
    client.force_login(pf.make_user("engineer", Role.ENGINEER, [world.nlp]))
    return client


def _get(client, name, *args, **params):
    return client.get(reverse(name, args=args), {**pf.FILTERS, **params})


# --- Pure helpers ------------------------------------------------------------------------------


def test_month_comparison_compares_month_to_date_with_the_same_days():
    current, previous, year_ago = month_comparison(date(2026, 11, 11))
    assert (current.start, current.end) == (date(2026, 11, 1), date(2026, 11, 11))
    assert (previous.start, previous.end) == (date(2026, 10, 1), date(2026, 10, 11))
    assert (year_ago.start, year_ago.end) == (date(2025, 11, 1), date(2025, 11, 11))


def test_month_comparison_of_a_full_month_never_runs_into_the_next():
    current, previous, _ = month_comparison(date(2026, 4, 1))
    assert (current.start, current.end) == (date(2026, 3, 1), date(2026, 4, 1))
    assert (previous.start, previous.end) == (date(2026, 2, 1), date(2026, 3, 1))


# --- Daily aggregates --------------------------------------------------------------------------


def test_daily_refresh_is_idempotent_and_follows_the_hourly_facts(world):
    def october_kwh():
        return dashboards.period_totals(start=date(2026, 10, 1), end=date(2026, 11, 1))[
            "energy_it_kwh"
        ]

    window = {"start": datetime(2026, 10, 1, tzinfo=UTC), "end": datetime(2026, 11, 1, tzinfo=UTC)}
    assert october_kwh() == pytest.approx(pf.OCT_IT_KWH)
    daily_facts_refresh(**window)
    daily_facts_refresh(**window)
    assert october_kwh() == pytest.approx(pf.OCT_IT_KWH)
    HourlyProjectFact.objects.filter(hour__year=2026, hour__month=10, project__isnull=True).update(
        energy_it_kwh=1.0
    )
    daily_facts_refresh(**window)
    assert october_kwh() == pytest.approx(1.0 + 2 * 1.0)
    assert DailyProjectFact.objects.filter(day=date(2026, 10, 5)).count() == 2


def test_period_totals_and_sci_of_a_project(world):
    totals = dashboards.period_totals(
        start=date(2026, 10, 1), end=date(2026, 11, 1), project=world.project
    )
    assert totals["energy_it_kwh"] == pytest.approx(pf.PROJECT_IT_KWH)
    assert totals["total_kgco2e"] == pytest.approx(pf.PROJECT_TOTAL_KG)
    assert totals["work_units"] == pytest.approx(1000)
    assert totals["sci"] == pytest.approx(pf.PROJECT_SCI)


def test_sci_of_projects_counting_different_units_is_not_summed(world):
    world.other_project.work_unit = "inferences"
    world.other_project.save()
    totals = dashboards.period_totals(start=date(2026, 10, 1), end=date(2026, 11, 1))
    assert totals["sci"] is None and totals["sci_note"] == "mixed units"


# --- Pages -------------------------------------------------------------------------------------


def test_overview_shows_this_month_against_last_month_and_a_year_ago(viewer_client):
    response = _get(viewer_client, "overview")
    assert response.status_code == 200
    html = response.content.decode()
    assert "1.2 kWh" in html  # IT energy of October 2026
    assert "1.6 kWh" in html  # facility energy 1.56 kWh
    assert "+100.0 %" in html  # against September
    assert "+300.0 %" in html  # against October 2025
    assert "0.2 kWh" in html  # unallocated IT energy (gpu1)
    assert "Test grid, 2024" in html  # the grid factor's source
    assert 'data-chart-url="/charts/energy-trend.json?start=2026-10-01&amp;end=2026-11-01"' in html
    assert "overview_decisions" not in html  # the slot renders nothing by itself


def test_project_page_shows_totals_per_unit_and_by_device(viewer_client, world):
    response = _get(viewer_client, "project_detail", world.project.slug)
    html = response.content.decode()
    assert response.status_code == 200
    assert "1.0 kWh" in html
    assert "0.1 kgCO2e" in html  # total 0.1128
    assert "1,000 training samples" in html
    assert "0.000113 kgCO2e" in html  # SCI 0.1128 / 1000
    assert "gpu-node-01/gpu0" in html
    assert "No optimisation recorded yet." in html


def test_projects_teams_hardware_and_collectors_pages_render(viewer_client, world):
    for name, args, expected in [
        ("project_list", (), "LLM fine-tuning"),
        ("team_list", (), "Vision"),
        ("team_detail", ("nlp",), "LLM fine-tuning"),
        ("hardware", (), "gpu-node-01/gpu1"),
        ("collector_list", (), "nlp-agents"),
        ("token_list", (), "No token yet."),
    ]:
        response = _get(viewer_client, name, *args)
        assert response.status_code == 200, name
        assert expected in response.content.decode(), name


def test_hardware_counts_idle_energy_and_age(world):
    hosts = dashboards.hardware_hosts(
        start=date(2026, 10, 1), end=date(2026, 11, 1), today=date(2026, 3, 1)
    )
    (host,) = hosts
    assert host["idle_energy_it_kwh"] == pytest.approx(0.2)  # gpu1 at 1 % utilisation
    assert host["util_mean_pct"] == pytest.approx((80 + 80 + 1 + 1) / 4)
    assert host["age_years"] == pytest.approx(730 / 365.25)
    assert host["embodied_kgco2e"] == pytest.approx(pf.OCT_EMBODIED)
    assert host["lifetime_years"] == 4


def test_team_filter_keeps_only_that_teams_projects(viewer_client, world):
    html = _get(viewer_client, "project_list", team="vision").content.decode()
    assert "Image classifier" in html and "LLM fine-tuning" not in html
    assert 'href="/teams/?start=2026-10-01&amp;end=2026-11-01&amp;team=vision"' in html


def test_bad_filters_are_named_and_the_defaults_used(viewer_client, world):
    response = viewer_client.get(reverse("overview"), {"start": "2026-10-10", "end": "2026-10-01"})
    assert response.status_code == 200
    assert "The end date must be after the start date." in response.content.decode()


# --- Chart JSON --------------------------------------------------------------------------------


def test_chart_json_holds_the_facts_and_is_cached_per_filter(viewer_client, world):
    response = _get(viewer_client, "chart", "energy-trend")
    figure = response.json()
    assert response.status_code == 200
    bars = figure["data"][0]
    assert bars["x"] == ["2026-10-05"]
    assert bars["y"] == [pytest.approx(pf.OCT_IT_KWH)]
    assert figure["layout"]["yaxis"]["title"]["text"] == "kWh"

    HourlyProjectFact.objects.update(energy_it_kwh=100)
    daily_facts_refresh(
        start=datetime(2026, 10, 1, tzinfo=UTC), end=datetime(2026, 11, 1, tzinfo=UTC)
    )
    cached = _get(viewer_client, "chart", "energy-trend").json()
    assert cached["data"][0]["y"] == [pytest.approx(pf.OCT_IT_KWH)]  # same filters: cache
    fresh = viewer_client.get(
        reverse("chart", args=["energy-trend"]), {"start": "2026-10-02", "end": "2026-11-01"}
    ).json()
    assert fresh["data"][0]["y"] == [pytest.approx(400.0)]  # other filters: recomputed


def test_every_chart_answers_with_data(viewer_client, world):
    from assessments.dashboards.chart_json import CHARTS, PROJECT_CHARTS

    for name in CHARTS:
        figure = _get(viewer_client, "chart", name).json()
        assert any(len(trace.get("y") or []) for trace in figure["data"]), name
    for name in PROJECT_CHARTS:
        figure = _get(viewer_client, "project_chart", world.project.slug, name).json()
        assert any(len(trace.get("y") or []) for trace in figure["data"]), name


def test_chart_with_bad_filters_or_name_answers_json_errors(viewer_client, world):
    response = viewer_client.get(reverse("chart", args=["energy-trend"]), {"start": "yesterday"})
    assert response.status_code == 400
    assert "start" in " ".join(response.json()["details"])
    assert _get(viewer_client, "chart", "no-such-chart").status_code == 404


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_export_has_units_in_headers_and_the_rows_shown(viewer_client, world):
    response = _get(viewer_client, "export_csv", "top-projects")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header, (row,) = rows[0], rows[1:]
    record = dict(zip(header, row, strict=True))
    assert record["Project"] == "LLM fine-tuning"
    assert float(record["IT energy (kWh)"]) == pytest.approx(pf.PROJECT_IT_KWH)
    assert float(record["SCI (kgCO2e per unit)"]) == pytest.approx(pf.PROJECT_SCI)


def test_every_table_exports_as_csv(viewer_client, world):
    from assessments.dashboards.tables import PROJECT_TABLES, TABLES

    Collector.objects.create(name="rack-c", token_prefix="abcd1234", token_digest="x")
    for name in TABLES:
        response = _get(viewer_client, "export_csv", name)
        assert response.status_code == 200, name
        assert len(response.content.decode().splitlines()) >= 2, name
    for name in PROJECT_TABLES:
        response = _get(viewer_client, "export_project_csv", world.project.slug, name)
        assert response.status_code == 200, name
    assert _get(viewer_client, "export_csv", "nope").status_code == 404


# --- Tokens shown once -------------------------------------------------------------------------


def test_collector_token_is_shown_once(engineer_client, world):
    response = engineer_client.post(
        reverse("collector_create"), {"name": "rack-a", "team": world.nlp.pk}, follow=True
    )
    html = response.content.decode()
    collector = Collector.objects.get(name="rack-a")
    assert "new-token-value" in html
    assert "no-store" in response["Cache-Control"]  # no cache keeps the page with the token
    token = html.split('id="new-token-value">')[1].split("<")[0]
    assert token.startswith(f"{COLLECTOR_TOKEN_KIND}_{collector.token_prefix}_")
    assert digest_matches(token, collector.token_digest)
    assert token not in engineer_client.get(reverse("collector_list")).content.decode()


def test_duplicate_collector_name_is_refused_with_a_message(engineer_client, world):
    engineer_client.post(reverse("collector_create"), {"name": "rack-a", "team": world.nlp.pk})
    response = engineer_client.post(
        reverse("collector_create"), {"name": "rack-a", "team": world.nlp.pk}, follow=True
    )
    assert "exists" in response.content.decode()
    assert Collector.objects.filter(name="rack-a").count() == 1


def test_collectors_page_shows_lag_and_rejections(viewer_client, world):
    collector = Collector.objects.create(name="rack-b", token_prefix="abcd1234", token_digest="x")
    IngestRejection.objects.create(collector=collector, status=400, reason="bad_sample")
    html = viewer_client.get(reverse("collector_list")).content.decode()
    assert "rack-b" in html and "bad_sample" in html


def test_collectors_page_says_whether_the_rollup_is_up_to_date(viewer_client, world):
    from collectors.models import DirtyHour

    DirtyHour.objects.all().delete()
    html = viewer_client.get(reverse("collector_list")).content.decode()
    assert "Rollup: up to date" in html
    from collectors.models import Device

    device = Device.objects.first()
    DirtyHour.objects.create(device=device, hour=device.first_seen_at.replace(minute=0))
    html = viewer_client.get(reverse("collector_list")).content.decode()
    assert "Rollup: 1 device-hours waiting" in html


def test_personal_api_token_is_shown_once_and_can_be_revoked(viewer_client, world):
    response = viewer_client.post(
        reverse("token_list"), {"name": "notebook", "scope": "read"}, follow=True
    )
    html = response.content.decode()
    assert "no-store" in response["Cache-Control"]
    token = html.split('id="new-token-value">')[1].split("<")[0]
    assert token.startswith("gat_")
    api_token = ApiToken.objects.get(name="notebook")
    assert api_token.scope == ApiToken.Scope.READ
    assert api_token.token_digest != token and token not in api_token.token_digest
    assert token not in viewer_client.get(reverse("token_list")).content.decode()
    viewer_client.post(reverse("token_revoke", args=[api_token.pk]))
    api_token.refresh_from_db()
    assert api_token.revoked_at is not None


def test_a_token_with_the_work_scope_is_made_only_when_asked_for(viewer_client, world):
    viewer_client.post(reverse("token_list"), {"name": "pipeline", "scope": "work"})
    assert ApiToken.objects.get(name="pipeline").scope == ApiToken.Scope.WORK
    response = viewer_client.post(reverse("token_list"), {"name": "x", "scope": "admin"})
    assert response.status_code == 200 and "scope" in response.context["form"].errors
    assert not ApiToken.objects.filter(name="x").exists()


# --- Engineers' forms --------------------------------------------------------------------------


def test_engineer_registers_a_project_and_allocates_devices(engineer_client, world):
    response = engineer_client.post(
        reverse("project_create"),
        {
            "name": "Speech",
            "slug": "speech",
            "team": world.nlp.pk,
            "phase": "training",
            "work_unit": "hours of audio",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/projects/speech/"
    response = engineer_client.post(
        reverse("allocation_create", args=["speech"]),
        {"host": world.host.pk, "devices": "0, 1", "start": "2026-10-01", "end": ""},
    )
    assert response.status_code == 302
    allocation = world.host.allocations.get()
    assert allocation.device_indexes == [0, 1] and allocation.end is None
    assert allocation.start == datetime(2026, 10, 1, tzinfo=UTC)


def test_allocation_of_an_unknown_device_index_is_refused(engineer_client, world):
    response = engineer_client.post(
        reverse("allocation_create", args=[world.project.slug]),
        {"host": world.host.pk, "devices": "0, 7", "start": "2026-10-01"},
    )
    assert response.status_code == 200
    assert "gpu-node-01 has no device with index 7." in response.content.decode()
    assert not world.host.allocations.exists()


def test_engineer_records_units_of_work(engineer_client, world):
    response = engineer_client.post(
        reverse("work_create", args=[world.project.slug]),
        {"period_start": "2026-10-06", "period_end": "2026-10-07", "units": "250"},
    )
    assert response.status_code == 302
    assert world.project.work_records.filter(units=250).exists()
    bad = engineer_client.post(
        reverse("work_create", args=[world.project.slug]),
        {"period_start": "2026-10-07", "period_end": "2026-10-06", "units": "-1"},
    )
    assert bad.status_code == 200
    assert world.project.work_records.count() == 2  # nothing stored from the bad form


# --- Services behind the forms -----------------------------------------------------------------


def test_new_allocation_re_dirties_the_hours_it_covers(world):
    from assessments.organisation import services
    from collectors.models import DirtyHour, RawSample

    RawSample.objects.create(
        device=world.gpu0, ts=datetime(2026, 10, 5, 10, 30, tzinfo=UTC), duration_s=1, energy_j=5
    )
    services.allocation_create(
        project=world.project,
        host=world.host,
        device_indexes=None,
        start=datetime(2026, 10, 1, tzinfo=UTC),
        end=None,
    )
    marked = set(DirtyHour.objects.values_list("device_id", "hour"))
    assert (world.gpu0.pk, datetime(2026, 10, 5, 10, tzinfo=UTC)) in marked
    assert all(hour >= datetime(2026, 10, 1, tzinfo=UTC) for _, hour in marked)


def test_allocation_that_ends_before_it_starts_is_refused(world):
    from assessments.organisation import services

    with pytest.raises(ValueError, match="must end after it starts"):
        services.allocation_create(
            project=world.project,
            host=world.host,
            device_indexes=[0],
            start=datetime(2026, 10, 2, tzinfo=UTC),
            end=datetime(2026, 10, 1, tzinfo=UTC),
        )
    assert not world.host.allocations.exists()


def test_project_update_refuses_unknown_fields(world):
    from assessments.organisation import services

    with pytest.raises(ValueError, match="Cannot change created_at"):
        services.project_update(project=world.project, created_at=None)


def test_work_units_prorate_records_crossing_the_range_edges(world):
    from assessments.footprint.scope_figures import work_units_by_project

    WorkRecord.objects.create(
        project=world.project,
        period_start=datetime(2026, 10, 31, 12, tzinfo=UTC),
        period_end=datetime(2026, 11, 1, 12, tzinfo=UTC),
        units=500,
    )
    units = work_units_by_project(
        projects=[world.project], start=date(2026, 10, 1), end=date(2026, 11, 1)
    )
    assert units == {world.project.pk: pytest.approx(1000 + 250)}


def test_collector_health_reports_lag_sample_rate_and_rejections(world):
    import uuid
    from datetime import timedelta

    from collectors.models import IngestBatch

    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    collector = Collector.objects.create(
        name="rack-d",
        token_prefix="dddd1111",
        token_digest="x",
        last_seen_at=now - timedelta(seconds=90),
    )
    IngestBatch.objects.create(
        batch_id=uuid.uuid4(),
        collector=collector,
        received_at=now - timedelta(minutes=5),
        stored_count=900,
    )
    IngestBatch.objects.create(  # outside the 15-minute window
        batch_id=uuid.uuid4(),
        collector=collector,
        received_at=now - timedelta(hours=1),
        stored_count=5000,
    )
    IngestRejection.objects.create(collector=collector, status=400, reason="bad", at=now)
    IngestRejection.objects.create(
        collector=collector, status=400, reason="bad", at=now - timedelta(days=3)
    )
    (row,) = [r for r in dashboards.collector_health(now=now) if r["collector"] == collector]
    assert row["lag_seconds"] == pytest.approx(90)
    assert row["samples_per_second"] == pytest.approx(900 / 900)
    assert (row["rejected_last_day"], row["rejected_total"]) == (1, 2)
