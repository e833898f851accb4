"""CSV exports never hand a spreadsheet a formula: user-chosen text is quoted, numbers are not."""

import csv
import io
from datetime import date

import pytest
from django.urls import reverse

from assessments.dashboards.csv_export import table_csv
from assessments.dashboards.tables import Column, Table
from assessments.models import UserProfile
from tests.assessments.dashboards import page_factories as pf


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize(
    "name",
    ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"],
)
def test_text_starting_a_formula_is_quoted(name):
    table = Table("t", "T", [Column("name", "Name")], [{"name": name}])
    assert _rows(table_csv(table))[1] == ["'" + name]


def test_numbers_and_plain_text_are_untouched():
    table = Table(
        "t",
        "T",
        [Column("name", "Name"), Column("n", "N", "kWh", 2), Column("i", "I"), Column("d", "D")],
        [{"name": "chat inference", "n": -1.5, "i": -3, "d": date(2026, 1, 2)}],
    )
    assert _rows(table_csv(table))[1] == ["chat inference", "-1.5", "-3", "2026-01-02"]


def test_a_header_from_a_user_chosen_name_is_quoted_too():
    table = Table("t", "T", [Column("x", "=1+1")], [])
    assert _rows(table_csv(table))[0] == ["'=1+1"]


@pytest.mark.django_db
def test_exported_project_names_and_work_units_cannot_start_a_formula(client):
    world = pf.make_world()
    world.project.name = '=HYPERLINK("http://evil.example","click")'
    world.project.work_unit = "+cmd|' /C calc'!A0"
    world.project.save()
    client.force_login(pf.make_user("viewer", UserProfile.Role.VIEWER))
    answer = client.get(reverse("export_csv", args=["top-projects"]), pf.FILTERS)
    header, row = _rows(answer.content.decode())
    record = dict(zip(header, row, strict=True))
    assert record["Project"] == "'" + world.project.name
    assert record["Unit of work"] == "'" + world.project.work_unit
    assert float(record["IT energy (kWh)"]) == pytest.approx(pf.PROJECT_IT_KWH)
