"""Hourly grid series: generic CSV and Electricity Maps exports, bad files, upsert, recompute."""

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from assessments.models import GridIntensityHour, Site
from assessments.organisation.factors import hourly_intensities
from assessments.organisation.grid_import import GridImportError, parse_grid_csv
from collectors.models import Device, DirtyHour, Host, RawSample

EM_HEADER = (
    "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
    "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,"
    "Data Source,Data Estimated,Data Estimation Method"
)
EM_FILE = (
    EM_HEADER
    + "\n2024-01-01 00:00:00,France,France,FR,21.5,48.2,95.1,27.3,example,false,\n"
    + "2024-01-01 01:00:00,France,France,FR,23.0,50.0,95.0,27.0,example,false,\n"
)
EM_NEW_HEADER_FILE = (
    "Datetime (UTC),Country,Zone name,Zone id,Carbon intensity gCO₂eq/kWh (direct),"
    "Carbon intensity gCO₂eq/kWh (Life cycle),Carbon-free energy percentage (CFE%)\n"
    "2025-06-01 12:00:00,Germany,Germany,DE,300,350,50\n"
)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# --- Parsing (pure) -----------------------------------------------------------------------------


def test_electricity_maps_export_uses_the_life_cycle_column_by_default():
    series = parse_grid_csv(EM_FILE, file_name="FR_2024_hourly.csv")
    assert series.hours == {utc(2024, 1, 1, 0): 48.2, utc(2024, 1, 1, 1): 50.0}
    assert (series.basis, series.file_format, series.zone_id) == ("lca", "electricity_maps", "FR")
    assert series.describe_source("x") == "Electricity Maps hourly export FR 2024, life-cycle"
    assert (series.start, series.end) == (utc(2024, 1, 1, 0), utc(2024, 1, 1, 2))


def test_electricity_maps_direct_column_on_request():
    series = parse_grid_csv(EM_FILE, basis="direct")
    assert list(series.hours.values()) == [21.5, 23.0]
    assert series.describe_source("x").endswith(", direct")


def test_newer_electricity_maps_life_cycle_header_is_read():
    series = parse_grid_csv("\ufeff" + EM_NEW_HEADER_FILE)
    assert series.hours == {utc(2025, 6, 1, 12): 350.0} and series.zone_id == "DE"


def test_generic_csv_with_timestamps_normalised_to_the_hour_start():
    text = (
        "timestamp,gco2e_per_kwh\n"
        "2026-11-02T00:00:00Z,100\n"
        "2026-11-02T03:30:00+01:00,120\n"  # 02:30 UTC: holds for the hour from 02:00
        "2026-11-02 05:00,90.5\n"  # no offset: UTC
    )
    series = parse_grid_csv(text)
    assert series.hours == {
        utc(2026, 11, 2, 0): 100.0,
        utc(2026, 11, 2, 2): 120.0,
        utc(2026, 11, 2, 5): 90.5,
    }


def test_the_same_instant_twice_is_refused_naming_both_lines():
    text = "timestamp,gco2e_per_kwh\n2026-11-02T00:00:00Z,100\n2026-11-02T01:00:00+01:00,120\n"
    with pytest.raises(GridImportError) as caught:
        parse_grid_csv(text, file_name="g.csv")
    assert "g.csv line 3, column 'timestamp'" in str(caught.value)
    assert "appears twice (first on line 2)" in str(caught.value)


def test_sub_hourly_rows_are_averaged_into_their_hour():
    text = "datetime,carbon_intensity\n2026-11-02 00:00,100\n2026-11-02 00:30,200\n\n"
    series = parse_grid_csv(text)
    assert series.hours == {utc(2026, 11, 2, 0): 150.0}
    assert series.file_format == "generic" and series.zone_id == ""


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "grid.csv: the file is empty"),
        ("when,value\n2026-01-01,1\n", "grid.csv line 1: header must name a timestamp column"),
        ("timestamp,gco2e_per_kwh\n", "grid.csv: no data rows after the header"),
        (
            "timestamp,gco2e_per_kwh\n2026-01-01 00:00,50\n2026-01-01 01:00,n/a\n",
            "grid.csv line 3, column 'gco2e_per_kwh': not a number: 'n/a'",
        ),
        (
            "timestamp,gco2e_per_kwh\nyesterday,50\n",
            "grid.csv line 2, column 'timestamp': not a timestamp: 'yesterday'",
        ),
        (
            "timestamp,gco2e_per_kwh\n2026-01-01 00:00,-5\n",
            "grid.csv line 2, column 'gco2e_per_kwh': -5 gCO2e/kWh is outside 0 to 2000",
        ),
        (
            "timestamp,gco2e_per_kwh\n2026-01-01 00:00,0.4\n2026-01-01 01:00\n",
            "grid.csv line 3: has 1 columns, the header has 2",
        ),
        (
            EM_FILE.replace(",FR,23.0", ",DE,23.0"),
            "grid.csv: holds several zones (DE, FR)",
        ),
        (
            EM_HEADER.replace(" (LCA)", " (other)") + "\n",
            "grid.csv line 1: no 'Carbon Intensity gCO2eq/kWh (LCA) or (Life cycle)' column",
        ),
    ],
)
def test_bad_files_are_refused_naming_line_and_column(text, message):
    with pytest.raises(GridImportError) as caught:
        parse_grid_csv(text, file_name="grid.csv")
    assert message in str(caught.value)


def test_epoch_seconds_are_read_as_utc():
    series = parse_grid_csv("ts,intensity\n1767225600,42\n")
    assert series.hours == {utc(2026, 1, 1): 42.0}


# --- The command ----------------------------------------------------------------------------


def run_import(path, *args):
    out = StringIO()
    call_command("import_grid_intensity", str(path), *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_import_stores_hours_with_basis_and_source_and_lookups_use_them(tmp_path):
    path = tmp_path / "FR_2024_hourly.csv"
    path.write_text(EM_FILE, encoding="utf-8")
    output = run_import(path, "--zone", "FRA")
    assert "FRA: 2 hours" in output
    stored = GridIntensityHour.objects.get(zone__code="FRA", hour=utc(2024, 1, 1, 1))
    assert (stored.gco2e_per_kwh, stored.basis) == (50.0, "lca")
    assert stored.source == "Electricity Maps hourly export FR 2024, life-cycle"
    hours = hourly_intensities("FRA", utc(2024, 1, 1, 1), utc(2024, 1, 1, 3))
    assert hours[utc(2024, 1, 1, 1)].value == 50.0
    assert not hours[utc(2024, 1, 1, 2)].is_fallback  # annual value for an hour not imported


@pytest.mark.django_db
def test_reimport_updates_in_place_with_the_direct_column(tmp_path):
    path = tmp_path / "fr.csv"
    path.write_text(EM_FILE, encoding="utf-8")
    run_import(path, "--zone", "FRA")
    run_import(path, "--zone", "FRA", "--column", "direct", "--source", "EM portal, 2025 pull")
    assert GridIntensityHour.objects.count() == 2
    stored = GridIntensityHour.objects.get(hour=utc(2024, 1, 1, 0))
    assert (stored.gco2e_per_kwh, stored.basis, stored.source) == (
        21.5,
        "direct",
        "EM portal, 2025 pull",
    )


@pytest.mark.django_db
def test_a_bad_file_imports_nothing(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,gco2e_per_kwh\n2026-01-01 00:00,50\n2026-01-01 01:00,oops\n")
    with pytest.raises(CommandError) as caught:
        run_import(path, "--zone", "FRA")
    assert f"{path} line 3, column 'gco2e_per_kwh': not a number" in str(caught.value)
    assert not GridIntensityHour.objects.exists()


@pytest.mark.django_db
def test_an_unknown_zone_is_refused_listing_close_matches(tmp_path):
    path = tmp_path / "fr.csv"
    path.write_text(EM_FILE, encoding="utf-8")
    with pytest.raises(CommandError) as caught:
        run_import(path, "--zone", "FR")
    assert "Unknown grid zone 'FR'" in str(caught.value) and "FRA" in str(caught.value)
    assert not GridIntensityHour.objects.exists()


@pytest.mark.django_db
def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CommandError, match="cannot be read"):
        run_import(tmp_path / "nope.csv", "--zone", "FRA")


@pytest.mark.django_db
def test_import_marks_the_zones_device_hours_for_recompute(tmp_path):
    site = Site.objects.create(name="paris-dc1", grid_zone="FRA")
    host = Host.objects.create(hostname="gpu-node-01", site=site)
    device = Device.objects.create(uuid="GPU-1", host=host, name="NVIDIA L4")
    other = Device.objects.create(uuid="GPU-2", host=Host.objects.create(hostname="elsewhere"))
    for dev in (device, other):
        RawSample.objects.create(device=dev, ts=utc(2024, 1, 1, 0, 30), duration_s=1, energy_j=100)
    path = tmp_path / "fr.csv"
    path.write_text(EM_FILE, encoding="utf-8")
    output = run_import(path, "--zone", "FRA")
    assert "1 device-hours marked for recompute" in output
    assert list(DirtyHour.objects.values_list("device_id", "hour")) == [
        (device.pk, utc(2024, 1, 1, 0))
    ]


@pytest.mark.django_db
def test_an_export_for_another_country_imports_with_a_warning(tmp_path):
    path = tmp_path / "fr.csv"
    path.write_text(EM_FILE, encoding="utf-8")
    err = StringIO()
    call_command("import_grid_intensity", str(path), "--zone", "DEU", stdout=StringIO(), stderr=err)
    assert "the file is for France (FR) but zone DEU is Germany" in err.getvalue()
    assert GridIntensityHour.objects.filter(zone__code="DEU").count() == 2


@pytest.mark.django_db
def test_an_export_for_the_zones_country_gives_no_warning(tmp_path):
    path = tmp_path / "fr.csv"
    path.write_text(EM_FILE, encoding="utf-8")
    err = StringIO()
    call_command("import_grid_intensity", str(path), "--zone", "FRA", stdout=StringIO(), stderr=err)
    assert err.getvalue() == ""


def test_semicolon_separated_files_are_read():
    series = parse_grid_csv("timestamp;gco2e_per_kwh\n2026-11-02 00:00;55,5\n")
    assert series.hours == {utc(2026, 11, 2): 55.5}
