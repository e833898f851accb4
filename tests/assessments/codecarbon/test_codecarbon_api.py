"""/api/codecarbon/ refusals, the CSV import's all-or-nothing rule, and the footprint's rule
for reported energy (docs/codecarbon.md, docs/methodology.md)."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum

from assessments.codecarbon.services import experiment_register
from assessments.footprint.daily_facts import daily_facts_refresh
from assessments.footprint.selectors import footprint
from assessments.models import (
    CodeCarbonEmission,
    CodeCarbonExperiment,
    CodeCarbonRun,
    HourlyCodeCarbonFact,
    HourlyProjectFact,
)
from collectors.services import collector_create, collector_revoke
from tests.assessments.footprint.rollup_factories import (
    make_device,
    make_host,
    make_project,
    make_site,
    make_zone,
)

TESTDATA = Path(__file__).parent / "testdata"
EXPERIMENT = uuid.UUID("9b2c6a1e-2f0e-4c7e-9d58-3e1f6b0a7c11")
HOUR = datetime(2026, 11, 2, 10, tzinfo=UTC)


@pytest.fixture
def setup(db):
    project = make_project(slug="llm-finetune", team_name="NLP")
    experiment, _ = experiment_register(project=project, experiment_id=EXPERIMENT)
    _, token = collector_create(name="nlp-cc", team=project.team)
    return project, experiment, token


def post(client, path, body, token):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    headers = {"x-api-token": token} if token else {}
    return client.post(
        f"/api/codecarbon/{path}", data=data, content_type="application/json", headers=headers
    )


def run_body(experiment_id=EXPERIMENT, **extra):
    return {
        "timestamp": "2026-11-02T10:00:00+00:00",
        "experiment_id": str(experiment_id),
        "os": "Linux",
        "python_version": "3.11",
        "codecarbon_version": "3.3.2",
        "cpu_count": 8,
        "cpu_model": "Test CPU",
        "gpu_count": 1,
        "gpu_model": "1 x NVIDIA H100",
        "longitude": None,
        "latitude": None,
        "region": None,
        "provider": None,
        "ram_total_size": 64.0,
        "tracking_mode": "machine",
        **extra,
    }


def emission_body(run_id, ts="2026-11-02T10:30:00+00:00", kwh=0.5, duration=1800, **extra):
    return {
        "timestamp": ts,
        "run_id": run_id,
        "duration": duration,
        "emissions_sum": 0.01,
        "emissions_rate": 1e-5,
        "cpu_power": 50.0,
        "gpu_power": 900.0,
        "ram_power": 50.0,
        "cpu_energy": kwh * 0.05,
        "gpu_energy": kwh * 0.9,
        "ram_energy": kwh * 0.05,
        "energy_consumed": kwh,
        "cpu_utilization_percent": 50.0,
        "gpu_utilization_percent": 90.0,
        "ram_utilization_percent": 20.0,
        "wue": 0,
        **extra,
    }


def new_run(client, token):
    answer = post(client, "runs", run_body(), token)
    assert answer.status_code == 201, answer.content
    return answer.json()["id"]


# --- refusals -------------------------------------------------------------------------------


def test_missing_key_gets_401_in_codecarbons_error_shape(client, setup):
    answer = post(client, "runs", run_body(), None)

    assert answer.status_code == 401
    assert "x-api-token" in answer.json()["detail"]


def test_revoked_key_gets_401(client, setup):
    project, _, _ = setup
    collector, token = collector_create(name="old", team=project.team)
    collector_revoke(collector=collector)

    answer = post(client, "runs", run_body(), token)

    assert answer.status_code == 401
    assert "revoked" in answer.json()["detail"]


def test_bad_json_gets_400(client, setup):
    _, _, token = setup

    answer = post(client, "runs", "{not json", token)

    assert answer.status_code == 400
    assert "not valid JSON" in answer.json()["error"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("energy_consumed", -1.0),
        ("energy_consumed", "0.5"),
        ("cpu_energy", None),
        ("timestamp", "2026-11-02T10:30:00"),
        ("duration", 10**9),
    ],
)
def test_bad_emission_field_gets_400_naming_it_and_stores_nothing(client, setup, field, value):
    _, _, token = setup
    run_id = new_run(client, token)

    answer = post(client, "emissions", emission_body(run_id, **{field: value}), token)

    assert answer.status_code == 400
    assert [d["field"] for d in answer.json()["details"]] == [field]
    assert not CodeCarbonEmission.objects.exists()


def test_emission_in_the_future_is_refused(client, setup):
    _, _, token = setup
    run_id = new_run(client, token)
    ahead = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    answer = post(client, "emissions", emission_body(run_id, ts=ahead), token)

    assert answer.status_code == 400
    assert answer.json()["details"][0]["field"] == "timestamp"


def test_emission_of_unknown_run_gets_404(client, setup):
    _, _, token = setup

    answer = post(client, "emissions", emission_body(str(uuid.uuid4())), token)

    assert answer.status_code == 404
    assert answer.json()["details"] == [{"field": "run_id", "message": "unknown run"}]


def test_run_of_another_collector_cannot_take_emissions(client, setup):
    project, _, token = setup
    run_id = new_run(client, token)
    _, same_team_token = collector_create(name="nlp-other", team=project.team)

    answer = post(client, "emissions", emission_body(run_id), same_team_token)

    assert answer.status_code == 403
    assert not CodeCarbonEmission.objects.exists()


def test_experiment_lookup_answers_the_registered_mapping(client, setup):
    _, _, token = setup

    found = client.get(f"/api/codecarbon/experiments/{EXPERIMENT}", headers={"x-api-token": token})
    missing = client.get(
        f"/api/codecarbon/experiments/{uuid.uuid4()}", headers={"x-api-token": token}
    )

    assert found.status_code == 200
    assert found.json()["id"] == str(EXPERIMENT)
    assert found.json()["project_id"] == "llm-finetune"
    assert missing.status_code == 404


# --- hourly facts and the footprint ----------------------------------------------------------


def test_interval_across_an_hour_splits_pro_rata_with_the_default_pue(client, setup):
    project, _, token = setup
    make_zone("FRA", 50.0)
    run_id = new_run(client, token)
    CodeCarbonRun.objects.filter(run_id=run_id).update(country_iso_code="FRA")

    # 10:45 to 11:15: half in each hour.
    post(client, "emissions", emission_body(run_id, ts="2026-11-02T11:15:00+00:00"), token)

    facts = list(HourlyCodeCarbonFact.objects.order_by("hour"))
    assert [f.hour for f in facts] == [HOUR, HOUR + timedelta(hours=1)]
    assert [f.energy_it_kwh for f in facts] == pytest.approx([0.25, 0.25])
    assert facts[0].pue == pytest.approx(1.56)
    assert facts[0].grid_gco2e_per_kwh == 50.0
    assert facts[0].operational_kgco2e == pytest.approx(0.25 * 1.56 * 50 / 1000)


def test_mapped_site_gives_pue_grid_and_price(client, setup):
    project, experiment, token = setup
    site = make_site("paris-dc1", zone="FRA", pue=1.3, price=0.2)
    experiment.site = site
    experiment.save()
    run_id = new_run(client, token)

    post(client, "emissions", emission_body(run_id, kwh=1.0), token)

    fact = HourlyCodeCarbonFact.objects.get()
    assert (fact.pue, fact.site_id, fact.grid_zone) == (1.3, site.pk, "FRA")
    assert fact.cost == pytest.approx(1.0 * 1.3 * 0.2)


def test_footprint_counts_reported_energy_except_where_the_agent_measured(client, setup):
    project, _, token = setup
    run_id = new_run(client, token)
    post(client, "emissions", emission_body(run_id, ts="2026-11-02T10:30:00+00:00"), token)
    post(client, "emissions", emission_body(run_id, ts="2026-11-02T11:30:00+00:00"), token)
    # The agent measured the project in the 11:00 hour.
    device = make_device(make_host())
    HourlyProjectFact.objects.create(
        device=device,
        hour=HOUR + timedelta(hours=1),
        project=project,
        attribution=HourlyProjectFact.Attribution.TAG,
        team=project.team,
        energy_it_kwh=2.0,
        energy_facility_kwh=3.0,
    )
    # Whole days are read from the daily aggregates the rollup keeps beside the hours.
    daily_facts_refresh(start=HOUR, end=HOUR + timedelta(days=1))

    figures = footprint(start=HOUR.date(), end=HOUR.date() + timedelta(days=1), project=project)

    assert figures["codecarbon"]["energy_kwh"] == pytest.approx(0.5)
    assert figures["codecarbon"]["overlap_energy_kwh"] == pytest.approx(0.5)
    assert figures["energy_kwh"] == pytest.approx(2.0 + 0.5)
    assert figures["codecarbon"]["runs"] == 1


def test_footprint_api_shows_the_codecarbon_part(client, setup, django_user_model):
    project, _, token = setup
    run_id = new_run(client, token)
    post(client, "emissions", emission_body(run_id), token)
    client.force_login(django_user_model.objects.create_user("viewer"))

    answer = client.get(
        f"/api/v1/projects/{project.slug}/footprint?start=2026-11-02&end=2026-11-03"
    )

    assert answer.status_code == 200
    assert answer.json()["codecarbon"]["energy_kwh"] == pytest.approx(0.5)
    assert answer.json()["energy_kwh"] == pytest.approx(0.5)


# --- CSV import -------------------------------------------------------------------------------


def stored_kwh(**filters):
    return CodeCarbonEmission.objects.filter(**filters).aggregate(e=Sum("energy_kwh"))["e"] or 0


def test_csv_rows_go_to_the_project_their_experiment_is_mapped_to(setup):
    project, _, _ = setup

    call_command("import_codecarbon", str(TESTDATA / "emissions_3.3.2_flushes.csv"))

    run = CodeCarbonRun.objects.get()
    assert (run.project, run.source, run.tracking_mode) == (project, "csv", "machine")
    assert run.run_id == "889dd2f7-91a8-45ab-8297-e9db1b869ea9"
    assert stored_kwh() == pytest.approx(4.3623874658082214e-05, rel=1e-9)


def test_later_copy_of_a_file_adds_only_the_new_intervals(setup, tmp_path):
    lines = (TESTDATA / "emissions_3.3.2_flushes.csv").read_text().splitlines()
    early = tmp_path / "early.csv"
    early.write_text("\n".join(lines[:2]) + "\n")

    call_command("import_codecarbon", str(early))
    call_command("import_codecarbon", str(TESTDATA / "emissions_3.3.2_flushes.csv"))
    call_command("import_codecarbon", str(TESTDATA / "emissions_3.3.2_flushes.csv"))

    assert CodeCarbonEmission.objects.count() == 3
    assert stored_kwh() == pytest.approx(4.3623874658082214e-05, rel=1e-9)


def test_bad_row_stores_nothing_of_the_file_and_names_the_line(setup, tmp_path):
    lines = (TESTDATA / "emissions_3.3.2_flushes.csv").read_text().splitlines()
    lines[3] = lines[3].replace(",machine,", ",machine\x01,")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")

    with pytest.raises(CommandError, match="line 4: tracking_mode: control characters"):
        call_command("import_codecarbon", str(bad))

    assert not CodeCarbonRun.objects.exists()
    assert not CodeCarbonEmission.objects.exists()


def test_unregistered_experiment_stores_nothing_and_names_the_line(setup, tmp_path):
    text = (TESTDATA / "emissions_3.3.2_flushes.csv").read_text()
    lines = text.splitlines()
    lines[3] = lines[3].replace(str(EXPERIMENT), str(uuid.uuid4()))
    other = tmp_path / "other.csv"
    other.write_text("\n".join(lines) + "\n")

    with pytest.raises(CommandError, match="line 4: experiment_id .* is not registered"):
        call_command("import_codecarbon", str(other))

    assert not CodeCarbonEmission.objects.exists()


def test_old_release_file_is_imported_with_project_option(setup):
    offline = make_project(slug="bert", team_name="NLP")

    call_command("import_codecarbon", str(TESTDATA / "emissions_1.x.csv"), project="bert")

    assert stored_kwh(run__project=offline) == pytest.approx(1.5)
    assert CodeCarbonRun.objects.filter(project=offline).count() == 2
    facts = HourlyCodeCarbonFact.objects.filter(project=offline).aggregate(e=Sum("energy_it_kwh"))
    assert facts["e"] == pytest.approx(1.5)


def test_unknown_project_option_is_refused(setup):
    with pytest.raises(CommandError, match="Unknown project 'nope'"):
        call_command("import_codecarbon", str(TESTDATA / "emissions_1.x.csv"), project="nope")


def test_admin_lists_and_shows_every_codecarbon_table(admin_client, setup):
    from django.urls import reverse

    call_command("import_codecarbon", str(TESTDATA / "emissions_3.3.2_flushes.csv"))
    for model in (CodeCarbonExperiment, CodeCarbonRun, CodeCarbonEmission, HourlyCodeCarbonFact):
        name = f"admin:assessments_{model._meta.model_name}"
        assert admin_client.get(reverse(f"{name}_changelist")).status_code == 200
        change = reverse(f"{name}_change", args=[model.objects.first().pk])
        assert admin_client.get(change).status_code == 200
