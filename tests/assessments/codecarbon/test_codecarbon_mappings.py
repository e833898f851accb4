"""Experiment mappings: the inventory file, the read/write API and the project page."""

import json
import uuid
from pathlib import Path
from textwrap import dedent

import pytest

from assessments.models import CodeCarbonEmission, CodeCarbonExperiment, CodeCarbonRun
from assessments.organisation.inventory import InventoryError, inventory_dump, inventory_load
from tests.assessments.dashboards.page_factories import make_user
from tests.assessments.footprint.rollup_factories import make_project, make_site

TESTDATA = Path(__file__).parent / "testdata"
EXPERIMENT = "9b2c6a1e-2f0e-4c7e-9d58-3e1f6b0a7c11"

INVENTORY = dedent(
    f"""
    sites:
      - {{name: paris-dc1, grid_zone: FRA, pue: 1.3}}
    teams:
      - {{name: NLP}}
    projects:
      - {{slug: llm-finetune, name: LLM fine-tuning, team: NLP, phase: training}}
    codecarbon_experiments:
      - {{id: {EXPERIMENT}, project: llm-finetune, phase: fine_tuning, site: paris-dc1}}
    """
)


@pytest.mark.django_db
def test_inventory_maps_experiments_and_dump_writes_them_back():
    inventory_load(text=INVENTORY)

    mapping = CodeCarbonExperiment.objects.get()
    assert str(mapping.experiment_id) == EXPERIMENT
    assert (mapping.project.slug, mapping.phase, mapping.site.name) == (
        "llm-finetune",
        "fine_tuning",
        "paris-dc1",
    )
    dumped = inventory_dump()
    assert "codecarbon_experiments:" in dumped
    assert (
        f"- {{id: {EXPERIMENT}, project: llm-finetune, phase: fine_tuning, site: paris-dc1}}"
        in dumped
    )
    again = inventory_load(text=dumped)
    assert again.counts["codecarbon_experiments"]["unchanged"] == 1
    assert not again.changed


@pytest.mark.django_db
def test_inventory_refuses_a_bad_experiment_id_naming_its_line():
    text = INVENTORY.replace(EXPERIMENT, "not-a-uuid")

    with pytest.raises(InventoryError) as raised:
        inventory_load(text=text)

    assert "line 9" in str(raised.value)
    assert "codecarbon_experiments[0].id" in str(raised.value)
    assert not CodeCarbonExperiment.objects.exists()


@pytest.mark.django_db
def test_inventory_refuses_an_experiment_of_an_unknown_project():
    text = INVENTORY.replace("project: llm-finetune, phase: fine", "project: nope, phase: fine")

    with pytest.raises(InventoryError, match='no project "nope"'):
        inventory_load(text=text)

    assert not CodeCarbonExperiment.objects.exists()


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture
def project(db):
    return make_project(slug="llm-finetune", team_name="NLP")


def post_mapping(client, slug, body):
    return client.post(
        f"/api/v1/projects/{slug}/codecarbon-experiments",
        data=json.dumps(body),
        content_type="application/json",
    )


def test_engineer_of_the_team_maps_an_experiment_through_the_api(client, project):
    client.force_login(make_user("eve", "engineer", teams=[project.team]))

    created = post_mapping(client, project.slug, {"id": EXPERIMENT, "phase": "fine_tuning"})
    again = post_mapping(client, project.slug, {"id": EXPERIMENT, "phase": "fine_tuning"})
    listed = client.get(f"/api/v1/projects/{project.slug}/codecarbon-experiments")

    assert created.status_code == 201
    assert again.status_code == 200
    assert listed.json()["experiments"][0]["id"] == EXPERIMENT
    assert listed.json()["experiments"][0]["phase"] == "fine_tuning"


def test_engineer_of_another_team_cannot_map_an_experiment(client, project):
    other = make_project(slug="vision", team_name="Vision")
    client.force_login(make_user("vic", "engineer", teams=[other.team]))

    answer = post_mapping(client, project.slug, {"id": EXPERIMENT})

    assert answer.status_code == 403
    assert not CodeCarbonExperiment.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"id": "nope"}, "id"), ({"id": EXPERIMENT, "phase": "party"}, "phase"), ({}, "id")],
)
def test_bad_mapping_gets_400_naming_the_field(client, project, body, field):
    client.force_login(make_user("eve", "engineer", teams=[project.team]))

    answer = post_mapping(client, project.slug, body)

    assert answer.status_code == 400
    assert answer.json()["details"][0]["field"] == field
    assert not CodeCarbonExperiment.objects.exists()


def test_experiment_mapped_to_another_project_is_refused_with_409(client, project):
    other = make_project(slug="other", team_name="NLP")
    client.force_login(make_user("eve", "engineer", teams=[project.team]))
    post_mapping(client, other.slug, {"id": EXPERIMENT})

    answer = post_mapping(client, project.slug, {"id": EXPERIMENT})

    assert answer.status_code == 409
    assert CodeCarbonExperiment.objects.get().project == other


def test_openapi_schema_lists_the_mapping_api(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]

    assert set(paths["/api/v1/projects/{slug}/codecarbon-experiments"]) == {"get", "post"}


def test_mapping_api_needs_a_login(client, project):
    assert post_mapping(client, project.slug, {"id": EXPERIMENT}).status_code == 401


# --- the project page -----------------------------------------------------------------------


def test_project_page_shows_the_snippet_with_the_experiment_id(client, project):
    client.force_login(make_user("eve", "engineer", teams=[project.team]))
    client.post(
        f"/projects/{project.slug}/codecarbon/experiments/new/",
        {"experiment_id": EXPERIMENT, "phase": "", "site": ""},
    )

    page = client.get(f"/projects/{project.slug}/").content.decode()

    assert CodeCarbonExperiment.objects.get().project == project
    assert "Energy reported by CodeCarbon" in page
    assert f'experiment_id="{EXPERIMENT}"' in page
    assert 'api_endpoint="http://testserver/api/codecarbon"' in page


def test_viewer_cannot_map_or_upload(client, project):
    client.force_login(make_user("val", "viewer"))

    mapped = client.post(
        f"/projects/{project.slug}/codecarbon/experiments/new/", {"experiment_id": EXPERIMENT}
    )
    with (TESTDATA / "emissions_1.x.csv").open("rb") as upload:
        uploaded = client.post(f"/projects/{project.slug}/codecarbon/upload/", {"file": upload})

    assert (mapped.status_code, uploaded.status_code) == (403, 403)
    assert not CodeCarbonExperiment.objects.exists()
    assert not CodeCarbonEmission.objects.exists()


def test_upload_on_the_project_page_imports_the_file_once(client, project):
    client.force_login(make_user("eve", "engineer", teams=[project.team]))

    for _ in range(2):
        with (TESTDATA / "emissions_1.x.csv").open("rb") as upload:
            answer = client.post(
                f"/projects/{project.slug}/codecarbon/upload/",
                {"file": upload, "timezone": "UTC"},
                follow=True,
            )

    assert CodeCarbonRun.objects.filter(project=project).count() == 2
    assert CodeCarbonEmission.objects.count() == 2
    page = answer.content.decode()
    assert "0 new interval(s)" in page
    assert "1.5 kWh" in page or "1.500 kWh" in page or "1.5000 kWh" in page


def test_upload_of_a_bad_file_names_the_line_and_stores_nothing(client, project, tmp_path):
    client.force_login(make_user("eve", "engineer", teams=[project.team]))
    text = (TESTDATA / "emissions_1.x.csv").read_text().replace(",1.0,", ",lots,")
    bad = tmp_path / "emissions.csv"
    bad.write_text(text)
    with bad.open("rb") as upload:
        answer = client.post(
            f"/projects/{project.slug}/codecarbon/upload/",
            {"file": upload, "timezone": "UTC"},
            follow=True,
        )

    assert "Nothing imported: line 3: energy_consumed" in answer.content.decode()
    assert not CodeCarbonEmission.objects.exists()


def test_mapping_with_site_from_the_page(client, project):
    site = make_site("paris-dc1", zone="FRA")
    client.force_login(make_user("eve", "engineer", teams=[project.team]))

    client.post(
        f"/projects/{project.slug}/codecarbon/experiments/new/",
        {"experiment_id": str(uuid.uuid4()), "phase": "evaluation", "site": site.pk},
    )

    mapping = CodeCarbonExperiment.objects.get()
    assert (mapping.phase, mapping.site) == ("evaluation", site)
