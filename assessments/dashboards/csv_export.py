"""CSV export of a dashboard table: the same rows and columns the page shows, units in headers."""

import csv
import io
from datetime import date, datetime

from django.http import HttpResponse

from assessments.dashboards.tables import Table


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(round(value, 9))
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def table_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([column.header for column in table.columns])
    for row in table.rows:
        writer.writerow([_cell(row.get(column.key)) for column in table.columns])
    return buffer.getvalue()


def csv_response(table: Table, *, filename: str) -> HttpResponse:
    response = HttpResponse(table_csv(table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
