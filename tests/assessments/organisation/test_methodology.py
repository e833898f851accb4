"""The methodology page: the document, the factors in use with sources, and the data gaps."""

import importlib
import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from assessments.models import GridIntensityHour, GridZone, HardwareModel, Site
from assessments.organisation.methodology import METHODOLOGY_FILE, methodology_html
from collectors.models import Device, Host


@pytest.fixture
def viewer(client, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw")
    client.force_login(user)
    return client


@pytest.fixture
def organisation():
    paris = Site.objects.create(
        name="paris-dc1",
        grid_zone="FRA",
        pue=1.3,
        pue_source="Colocation report 2025",
        energy_price_per_kwh=0.18,
        price_source="EDF contract",
    )
    Site.objects.create(name="lab", grid_zone="XYZ")
    node = Host.objects.create(hostname="gpu-node-01", site=paris, embodied_kgco2e=4600)
    Device.objects.create(uuid="GPU-0", host=node, index=0, name="NVIDIA H100 80GB HBM3")
    Device.objects.create(uuid="GPU-1", host=node, index=1, name="Mystery Accelerator")
    Host.objects.create(hostname="stray")
    GridIntensityHour.objects.create(
        zone=GridZone.objects.get(code="FRA"),
        hour=datetime(2024, 1, 1, tzinfo=UTC),
        gco2e_per_kwh=48.2,
        source="Electricity Maps hourly export FR 2024, life-cycle",
    )


def test_the_document_states_formulas_defaults_and_limitations():
    text = METHODOLOGY_FILE.read_text()
    for needed in (
        "E_fac = E_it × PUE(site)",
        "TE_gpu / (L_gpu × 8760) + TE_host / (n × L_host × 8760)",
        "SCI = (O + M) / R",
        "1.56",
        "Uptime Institute",
        "475 gCO2e/kWh",
        "BoaviztAPI",
        "Impact Framework",
        "Yang et al.",
        "unallocated",
        "location-based",
    ):
        assert needed in text, needed


def test_the_markdown_renders_to_html_with_tables():
    html = methodology_html()
    assert "<h1" in html and "<table>" in html and "<code>" in html


def test_the_page_needs_a_login(client):
    response = client.get(reverse("methodology"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_the_page_shows_factors_in_use_with_sources(viewer, organisation):
    response = viewer.get(reverse("methodology"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "How every number is computed" in page or "Methodology" in page
    # Sites with PUE and price and their sources; the zone's annual value with its source.
    assert "Colocation report 2025" in page and "EDF contract" in page
    assert "Our World in Data / Ember" in page
    fra = GridZone.objects.get(code="FRA")
    assert f"{fra.gco2e_per_kwh:.1f}" in page
    # The imported hourly series is listed with its source.
    assert "Electricity Maps hourly export FR 2024, life-cycle" in page
    # The GPU model the H100 matched, with its embodied value and source.
    assert "NVIDIA H100 SXM 80GB" in page and "575.1" in page and "BoaviztAPI" in page
    # Hosts with their embodied carbon and its source.
    assert "host gpu-node-01: 4600 kgCO2e, organisation&#x27;s value" in page
    assert "host stray: baseline server" in page
    # Defaults with source and year.
    assert "Uptime Institute" in page and "2024" in page


@pytest.mark.django_db
def test_the_page_lists_every_data_gap(viewer, organisation):
    page = viewer.get(reverse("methodology")).content.decode()
    assert "site lab: unknown grid zone &#x27;XYZ&#x27;: world average used" in page
    assert "site lab has no PUE" in page
    assert "site lab: no electricity price" in page
    assert "Mystery Accelerator" in page and "matches no known model" in page
    assert "host gpu-node-01 has no lifetime" in page


@pytest.mark.django_db
def test_a_host_without_site_is_a_data_gap(viewer):
    Device.objects.create(
        uuid="GPU-9", host=Host.objects.create(hostname="stray"), name="NVIDIA L4"
    )
    page = viewer.get(reverse("methodology")).content.decode()
    assert "host stray has no site" in page


@pytest.mark.django_db
def test_an_empty_installation_renders_with_defaults(viewer):
    page = viewer.get(reverse("methodology")).content.decode()
    assert "No sites yet" in page
    assert "475 gCO2e/kWh" in page
    assert "None: every site, host and GPU has its own factors." in page
    assert str(HardwareModel.objects.count()) in page


@pytest.mark.django_db
def test_the_page_costs_a_bounded_number_of_queries(viewer, django_assert_max_num_queries):
    site = Site.objects.create(name="paris-dc1", grid_zone="FRA", pue=1.2)
    for n in range(10):
        host = Host.objects.create(hostname=f"node-{n}", site=site)
        for index in range(4):
            Device.objects.create(
                uuid=f"GPU-{n}-{index}", host=host, index=index, name="NVIDIA A100-SXM4-80GB"
            )
    with django_assert_max_num_queries(25):
        response = viewer.get(reverse("methodology"))
    assert response.content.decode().count("NVIDIA A100-SXM4-80GB") == 1


# --- Formula -> function ------------------------------------------------------------------------

CODE_NAME = re.compile(r"`((?:assessments|collectors)(?:\.\w+)+)`")


def resolve(dotted: str):
    """The object a dotted name names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(dotted)


def test_every_function_the_methodology_names_exists():
    text = METHODOLOGY_FILE.read_text()
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if "Code:" in p]
    names = CODE_NAME.findall(text)
    assert len(paragraphs) >= 10 and len(set(names)) >= 20
    for paragraph in paragraphs[1:]:  # the first explains the convention
        assert CODE_NAME.search(paragraph), paragraph
    for name in names:
        assert resolve(name) is not None, name


def test_the_formulas_live_in_the_pure_modules():
    text = METHODOLOGY_FILE.read_text()
    modules = {name.rsplit(".", 1)[0] for name in CODE_NAME.findall(text)}
    pure = {
        "assessments.footprint.footprint_math",
        "assessments.footprint.ranges_math",
        "assessments.organisation.factor_bounds",
        "assessments.decisions.roi",
        "assessments.organisation.attribution",
        "assessments.codecarbon.reported_energy",
        "assessments.codecarbon.emissions_csv",
        "assessments.watch.budget_math",
        "assessments.watch.alert_math",
    }
    # Beside the formulas: the sum over facts and the one selector of a scope's figures.
    assert modules - pure <= {
        "assessments.models.facts.MeasuresQuerySet",
        "assessments.footprint.scope_figures",
        "assessments.footprint.work",
        "assessments.footprint.in_service",
        "assessments.organisation.work_kinds",
    }
