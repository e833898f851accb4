"""Bounds of the inputs (docs/methodology.md, "Ranges"): loaded, checked, dumped back."""

from textwrap import dedent

import pytest
from django.core.exceptions import ValidationError

from assessments.models import HardwareModel, Site
from assessments.organisation.factor_bounds import EMBODIED_BOUNDS, SITE_BOUNDS, bound_problems
from assessments.organisation.inventory import InventoryError, inventory_dump, inventory_load
from assessments.organisation.reference_data import (
    ReferenceDataError,
    fallback_factor_bounds,
    measurement_bounds,
    parse_relative_bounds,
    shipped_hardware,
)
from collectors.models import Host

WITH_BOUNDS = dedent(
    """\
    sites:
      - {name: paris-dc1, grid_zone: FRA, pue: 1.3, pue_min: 1.2, pue_max: 1.5,
         grid_uncertainty_pct: 10,
         energy_price_per_kwh: 0.18, price_min: 0.15, price_max: 0.22}
    hosts:
      - {hostname: gpu-node-01, site: paris-dc1, embodied_kgco2e: 4600, min_kgco2e: 3000,
         max_kgco2e: 6500, lifetime_years: 4}
    gpu_models:
      - {name: "NVIDIA H100 80GB HBM3", embodied_kgco2e: 575, min_kgco2e: 400, max_kgco2e: 900,
         lifetime_years: 4, lifetime_years_min: 3, lifetime_years_max: 6}
    """
)


def load(text):
    return inventory_load(text=dedent(text), file_name="inventory.yaml")


def problems_of(text):
    with pytest.raises(InventoryError) as caught:
        load(text)
    return str(caught.value)


@pytest.mark.django_db
def test_the_design_bounds_load_and_dump_back_unchanged():
    load(WITH_BOUNDS)
    site = Site.objects.get(name="paris-dc1")
    assert (site.pue_min, site.pue_max, site.grid_uncertainty_pct) == (1.2, 1.5, 10)
    assert (site.price_min, site.price_max) == (0.15, 0.22)
    host = Host.objects.get(hostname="gpu-node-01")
    assert (host.min_kgco2e, host.max_kgco2e) == (3000, 6500)
    model = HardwareModel.objects.get(kind="gpu", name="NVIDIA H100 80GB HBM3")
    assert (model.lifetime_years_min, model.lifetime_years_max) == (3, 6)
    dumped = inventory_dump()
    for text in ("pue_min: 1.2", "grid_uncertainty_pct: 10", "price_max: 0.22", "min_kgco2e: 3000"):
        assert text in dumped
    assert "lifetime_years_min: 3, lifetime_years_max: 6" in dumped
    assert not inventory_load(text=dumped, file_name="dump.yaml").changed
    assert inventory_dump() == dumped


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("pue_min: 1.2", "pue_min: 1.4", "sites[0].pue_min: must be <= pue (1.3), got 1.4"),
        ("pue_max: 1.5", "pue_max: 1.25", "sites[0].pue_max: must be >= pue (1.3), got 1.25"),
        ("grid_uncertainty_pct: 10", "grid_uncertainty_pct: 100", "grid_uncertainty_pct"),
        ("grid_uncertainty_pct: 10", "grid_uncertainty_pct: -1", "must be a number >= 0"),
        ("price_min: 0.15", "price_min: 0.19", "sites[0].price_min: must be <= energy_price"),
        ("max_kgco2e: 6500", "max_kgco2e: 4000", "hosts[0].max_kgco2e: must be >= embodied"),
        ("min_kgco2e: 400", "min_kgco2e: 600", "gpu_models[0].min_kgco2e: must be <="),
        ("lifetime_years_min: 3", "lifetime_years_min: 0", "lifetime_years_min: must be a"),
        ("lifetime_years_max: 6", "lifetime_years_max: 3.5", "lifetime_years_max: must be >="),
    ],
)
@pytest.mark.django_db
def test_a_bound_on_the_wrong_side_of_its_value_is_named_and_nothing_is_stored(old, new, expected):
    assert old in WITH_BOUNDS
    message = problems_of(WITH_BOUNDS.replace(old, new))
    assert expected in message
    assert not Site.objects.filter(name="paris-dc1").exists()
    assert not Host.objects.filter(hostname="gpu-node-01").exists()


@pytest.mark.django_db
def test_a_bound_is_checked_against_the_stored_value_the_file_leaves_out():
    load(WITH_BOUNDS)
    message = problems_of("sites:\n  - {name: paris-dc1, pue_max: 1.1}\n")
    assert "sites[0].pue_max: must be >= pue (1.3), got 1.1" in message
    message = problems_of("sites:\n  - {name: paris-dc1, pue: 1.6}\n")
    assert "sites[0].pue_max: stored value must be >= pue (1.6), got 1.5" in message
    assert Site.objects.get(name="paris-dc1").pue == 1.3
    message = problems_of("sites:\n  - {name: lyon, grid_zone: FRA, pue_min: 1.1}\n")
    assert "sites[0].pue_min: needs pue" in message
    assert not Site.objects.filter(name="lyon").exists()


def test_bound_problems_name_each_field():
    assert bound_problems({"pue": 1.3, "pue_min": 1.2, "pue_max": 1.3}, SITE_BOUNDS) == {}
    assert bound_problems({"pue": None}, SITE_BOUNDS) == {}
    problems = bound_problems(
        {"embodied_kgco2e": 100, "min_kgco2e": 120, "lifetime_years": 4, "lifetime_years_max": 0},
        EMBODIED_BOUNDS,
    )
    assert set(problems) == {"min_kgco2e", "lifetime_years_max"}
    assert bound_problems({"grid_uncertainty_pct": 99.9}, (), ("grid_uncertainty_pct",)) == {}
    assert "grid_uncertainty_pct" in bound_problems(
        {"grid_uncertainty_pct": float("nan")}, (), ("grid_uncertainty_pct",)
    )


@pytest.mark.django_db
def test_model_clean_refuses_a_bound_outside_its_value():
    site = Site(name="x", grid_zone="FRA", pue=1.3, pue_min=1.4)
    with pytest.raises(ValidationError) as caught:
        site.full_clean()
    assert "pue_min" in caught.value.message_dict
    host = Host(hostname="h", embodied_kgco2e=100, max_kgco2e=90)
    with pytest.raises(ValidationError) as caught:
        host.full_clean()
    assert "max_kgco2e" in caught.value.message_dict
    model = HardwareModel(
        kind="gpu", name="g", embodied_kgco2e=1, lifetime_years=4, lifetime_years_min=5, source="s"
    )
    with pytest.raises(ValidationError) as caught:
        model.full_clean()
    assert "lifetime_years_min" in caught.value.message_dict


def test_shipped_bounds_files_have_a_row_per_kind_with_a_source():
    assert set(measurement_bounds()) == {"nvml_gpu", "rapl_cpu", "codecarbon", "simulated"}
    assert set(fallback_factor_bounds()) == {"pue_fallback", "grid_fallback"}
    for bounds in [*measurement_bounds().values(), *fallback_factor_bounds().values()]:
        assert 0 <= bounds.low_pct < 100 and bounds.high_pct >= 0 and bounds.source
    for row in shipped_hardware():
        assert bound_problems(vars(row), EMBODIED_BOUNDS) == {}, row.name


@pytest.mark.parametrize(
    "text, expected",
    [
        ("source_kind,low_pct,high_pct,source\nnvml_gpu,5,5,x\n", "no row for rapl_cpu"),
        ("source_kind,low_pct,high_pct,source\nnvml,5,5,x\n", "'nvml' is not one of"),
        ("source_kind,low_pct,high_pct,source\nnvml_gpu,100,5,x\n", "low_pct: must be < 100"),
        ("source_kind,low_pct,high_pct,source\nnvml_gpu,5,-1,x\n", "high_pct: negative"),
        ("source_kind,low_pct,high_pct,source\nnvml_gpu,5,5,\n", "source: required"),
        ("source_kind,low_pct,source\n", "missing column(s) high_pct"),
    ],
)
def test_a_malformed_bounds_file_names_its_line_and_column(text, expected):
    kinds = ("nvml_gpu", "rapl_cpu")
    with pytest.raises(ReferenceDataError) as caught:
        parse_relative_bounds(text, "measurement_bounds.csv", "source_kind", kinds)
    assert expected in str(caught.value)
