"""Shipped reference factors: parsed with their sources, loaded after migrate, idempotent."""

from io import StringIO

import pytest
from django.core.management import call_command

from assessments.models import GridZone, HardwareModel
from assessments.organisation.reference_data import (
    COUNTRY_SOURCE,
    FALLBACK_GPU_NAME,
    FALLBACK_HOST_NAME,
    ReferenceDataError,
    load_reference_data,
    parse_countries,
    parse_hardware,
    shipped_hardware,
    shipped_zones,
)


def test_shipped_files_parse_with_a_source_for_every_row():
    zones, hardware = shipped_zones(), shipped_hardware()
    assert len(zones) == 213 + 40 and len(hardware) == 41
    assert all(row.source for row in zones + hardware)
    france = next(z for z in zones if z.code == "FRA")
    assert (france.kind, france.source, france.year) == ("country", COUNTRY_SOURCE, 2023)
    paris = next(z for z in zones if z.code == "gcp:europe-west9")
    assert (paris.kind, paris.gco2e_per_kwh, paris.year) == ("cloud", 34.0, None)
    assert "cloud.google.com" in paris.source and "CodeCarbon" in paris.source
    assert len({z.code for z in zones}) == len(zones)  # codes are unique


def test_hardware_rows_keep_ranges_and_lifetimes():
    by_name = {row.name: row for row in shipped_hardware()}
    hgx = by_name["2-socket HGX-class host, 2 TB RAM, 8x3.84 TB SSD, no GPUs"]
    assert (hgx.kind, hgx.embodied_kgco2e, hgx.min_kgco2e, hgx.max_kgco2e) == (
        "host",
        4600,
        2840,
        8409,
    )
    assert hgx.lifetime_years == 4
    bloom = by_name["NVIDIA A100 (BLOOM study)"]
    assert (bloom.min_kgco2e, bloom.max_kgco2e, bloom.lifetime_years) == (127.6, 569.4, 6)
    assert by_name[FALLBACK_GPU_NAME].embodied_kgco2e == 150
    assert by_name[FALLBACK_HOST_NAME].embodied_kgco2e == 1000


def test_a_malformed_reference_file_names_file_line_and_column():
    text = "iso3,country,gco2e_per_kwh,year\nFRA,France,56.0,2023\nDEU,Germany,lots,2023\n"
    with pytest.raises(ReferenceDataError, match="countries.csv line 3: gco2e_per_kwh"):
        parse_countries(text, "countries.csv")
    with pytest.raises(ReferenceDataError, match="missing column"):
        parse_countries("code,value\n", "countries.csv")
    with pytest.raises(ReferenceDataError, match="kind: 'tpu' is not gpu/host"):
        parse_hardware(
            "kind,model,embodied_kgco2e,default_lifetime_years,source\ntpu,X,1,3,s\n", "hw.csv"
        )


@pytest.mark.django_db
def test_reference_data_is_in_the_database_after_migrate():
    assert GridZone.objects.count() == 253
    assert HardwareModel.objects.count() == 41
    fra = GridZone.objects.get(code="FRA")
    assert fra.source == COUNTRY_SOURCE and fra.year == 2023


@pytest.mark.django_db
def test_reloading_is_idempotent():
    counts = load_reference_data()
    assert counts["grid zones"].unchanged == 253 and counts["grid zones"].created == 0
    assert counts["hardware models"].unchanged == 41


@pytest.mark.django_db
def test_reload_restores_a_shipped_value_but_keeps_a_value_the_user_resourced():
    GridZone.objects.filter(code="FRA").update(gco2e_per_kwh=999)  # still the shipped source
    GridZone.objects.filter(code="DEU").update(gco2e_per_kwh=333, source="Our utility, 2025")
    HardwareModel.objects.filter(name="NVIDIA L4").delete()
    counts = load_reference_data()
    assert GridZone.objects.get(code="FRA").gco2e_per_kwh != 999
    deu = GridZone.objects.get(code="DEU")
    assert (deu.gco2e_per_kwh, deu.source) == (333, "Our utility, 2025")
    assert HardwareModel.objects.filter(kind="gpu", name="NVIDIA L4").exists()
    assert (counts["grid zones"].updated, counts["grid zones"].kept_user_value) == (1, 1)
    assert counts["hardware models"].created == 1


@pytest.mark.django_db
def test_load_reference_data_command_reports_counts():
    out = StringIO()
    call_command("load_reference_data", stdout=out)
    assert "grid zones: 0 created, 0 updated, 253 unchanged" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_reference_data_survives_a_flush_between_transactional_tests():
    # The post_migrate hook runs after the flush that ends each transactional test too.
    call_command("flush", interactive=False, verbosity=0)
    assert GridZone.objects.filter(code="FRA").exists()
    assert HardwareModel.objects.filter(name=FALLBACK_HOST_NAME).exists()
