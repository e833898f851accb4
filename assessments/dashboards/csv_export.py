"""CSV export of a dashboard table: the same rows and columns the page shows, units in headers."""

import csv
import io
from datetime import date, datetime
from decimal import Decimal

from django.http import HttpResponse

from assessments.dashboards.tables import Table

# A spreadsheet reads a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"): project names, work units and device names come from users and agents.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(text: str) -> str:
    """Text as a cell no spreadsheet evaluates: a leading formula character gets a quote."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(round(value, 9))  # numbers stay numbers, negative ones included
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return text_cell(str(value))


def table_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([text_cell(str(column.header)) for column in table.columns])
    for row in table.rows:
        writer.writerow([_cell(row.get(column.key)) for column in table.columns])
    return buffer.getvalue()


def csv_response(table: Table, *, filename: str) -> HttpResponse:
    response = HttpResponse(table_csv(table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
