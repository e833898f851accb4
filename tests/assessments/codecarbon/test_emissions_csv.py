"""CodeCarbon's emissions.csv parsed from captured files (pure, no database)."""

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from assessments.codecarbon.emissions_csv import (
    CsvError,
    RunTotals,
    intervals_from_snapshots,
    parse_emissions_csv,
)

TESTDATA = Path(__file__).parent / "testdata"
HEADER_3X = (TESTDATA / "emissions_3.3.2_flushes.csv").read_text().splitlines()[0]


def read(name):
    return (TESTDATA / name).read_text()


def test_current_release_file_is_read_with_every_column():
    rows = parse_emissions_csv(read("emissions_3.3.2_flushes.csv"), naive_tz=UTC)

    assert len(rows) == 3
    first = rows[0]
    assert first.run_id == "889dd2f7-91a8-45ab-8297-e9db1b869ea9"
    assert first.experiment_id == "9b2c6a1e-2f0e-4c7e-9d58-3e1f6b0a7c11"
    assert first.timestamp == datetime(2026, 11, 29, 18, 45, 23, tzinfo=UTC)
    assert first.country_iso_code == "FRA"
    assert first.tracking_mode == "machine"
    assert first.codecarbon_version == "3.3.2"
    assert first.energy_kwh == pytest.approx(
        first.cpu_energy_kwh + first.gpu_energy_kwh + first.ram_energy_kwh
    )


def test_rows_of_one_run_are_totals_so_intervals_are_their_differences():
    rows = parse_emissions_csv(read("emissions_3.3.2_flushes.csv"), naive_tz=UTC)

    intervals = intervals_from_snapshots(RunTotals(), rows)

    assert len(intervals) == 3
    assert sum(i.energy_kwh for i in intervals) == pytest.approx(rows[-1].energy_kwh)
    assert sum(i.duration_s for i in intervals) == pytest.approx(rows[-1].duration_s)
    assert intervals[1].energy_kwh == pytest.approx(rows[1].energy_kwh - rows[0].energy_kwh)


def test_rows_already_covered_by_stored_intervals_add_nothing():
    rows = parse_emissions_csv(read("emissions_3.3.2_flushes.csv"), naive_tz=UTC)
    stored = RunTotals(duration_s=rows[1].duration_s, energy_kwh=rows[1].energy_kwh)

    intervals = intervals_from_snapshots(stored, rows)

    assert len(intervals) == 1
    assert intervals[0].energy_kwh == pytest.approx(rows[2].energy_kwh - rows[1].energy_kwh)


def test_old_release_file_without_run_id_or_energy_split_is_read():
    rows = parse_emissions_csv(read("emissions_1.x.csv"), naive_tz=UTC)

    assert [row.energy_kwh for row in rows] == [0.5, 1.0]
    # 1.x called the run `experiment_id`.
    assert rows[0].run_id == "5f6a2d9e-1111-4a8b-9c0d-2e3f4a5b6c7d"
    assert rows[0].experiment_id == ""
    assert rows[0].cpu_energy_kwh is None


def test_naive_timestamps_are_read_in_the_given_zone():
    rows = parse_emissions_csv(read("emissions_1.x.csv"), naive_tz=ZoneInfo("Europe/Paris"))

    assert rows[0].timestamp.astimezone(UTC) == datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def test_run_id_none_written_by_codecarbon_with_api_output_means_no_run():
    run_id = "889dd2f7-91a8-45ab-8297-e9db1b869ea9"
    text = read("emissions_3.3.2_flushes.csv").replace(run_id, "None")

    rows = parse_emissions_csv(text, naive_tz=UTC)

    assert {row.run_id for row in rows} == {""}


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("energy_consumed", "abc", "line 3: energy_consumed: 'abc' is not a number"),
        ("energy_consumed", "-1", "line 3: energy_consumed: energy cannot be negative"),
        ("energy_consumed", "", "line 3: energy_consumed: a number is required"),
        ("duration", "inf", "line 3: duration: 'inf' is not a finite number"),
        ("timestamp", "yesterday", "line 3: timestamp: 'yesterday' is not an ISO 8601"),
    ],
)
def test_bad_value_is_refused_naming_the_line_and_column(column, value, message):
    lines = read("emissions_3.3.2_flushes.csv").splitlines()
    columns = lines[0].split(",")
    cells = lines[2].split(",")
    cells[columns.index(column)] = value
    lines[2] = ",".join(cells)

    with pytest.raises(CsvError) as raised:
        parse_emissions_csv("\n".join(lines), naive_tz=UTC)

    assert str(raised.value).startswith(message)
    assert raised.value.line == 3


def test_row_with_missing_cells_is_refused_naming_the_line():
    lines = read("emissions_3.3.2_flushes.csv").splitlines()
    lines[3] = ",".join(lines[3].split(",")[:5])

    with pytest.raises(CsvError, match=r"^line 4: 5 values for 38 columns"):
        parse_emissions_csv("\n".join(lines), naive_tz=UTC)


def test_file_that_is_not_an_emissions_csv_is_refused():
    with pytest.raises(CsvError, match="missing column.*energy_consumed"):
        parse_emissions_csv("timestamp,duration\n2026-11-02T10:00:00,3\n", naive_tz=UTC)
    with pytest.raises(CsvError, match="empty"):
        parse_emissions_csv("", naive_tz=UTC)


def test_a_run_whose_energy_goes_down_is_refused_naming_the_line():
    rows = parse_emissions_csv(read("emissions_3.3.2_flushes.csv"), naive_tz=UTC)
    stored = RunTotals(duration_s=rows[0].duration_s, energy_kwh=1.0)

    with pytest.raises(CsvError, match="^line 3: run .* lower than"):
        intervals_from_snapshots(stored, rows)


def test_header_of_current_release_has_the_columns_of_codecarbon_emissions_data():
    from dataclasses import fields

    from codecarbon.output_methods.emissions_data import EmissionsData

    assert HEADER_3X.split(",") == [field.name for field in fields(EmissionsData)]


def test_a_row_equal_to_the_stored_totals_up_to_rounding_adds_nothing():
    rows = parse_emissions_csv(read("emissions_3.3.2_flushes.csv"), naive_tz=UTC)
    last = rows[-1]
    stored = RunTotals(
        duration_s=last.duration_s * (1 - 1e-15), energy_kwh=last.energy_kwh * (1 - 1e-15)
    )

    assert intervals_from_snapshots(stored, rows) == []
