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


def _ranged(table: Table) -> set[str]:
    """The columns of the table whose rows carry uncertainty ranges (scope_figures' "ranges")."""
    keys = set()
    for row in table.rows:
        keys |= set(row.get("ranges") or ())
    return {column.key for column in table.columns if column.key in keys}


def _bound(row: dict, key: str, side: str):
    bounds = (row.get("ranges") or {}).get(key)
    return None if bounds is None else getattr(bounds, side)


def table_csv(table: Table) -> str:
    """The table's columns; after each figure that has a range, its low and its high
    (docs/methodology.md, "Ranges")."""
    ranged = _ranged(table)
    header, cells = [], []
    for column in table.columns:
        header.append(column.header)
        cells.append(lambda row, key=column.key: row.get(key))
        if column.key in ranged:
            unit = f" ({column.unit})" if column.unit else ""
            for side in ("low", "high"):
                header.append(f"{column.label} {side}{unit}")
                cells.append(lambda row, key=column.key, side=side: _bound(row, key, side))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([text_cell(str(name)) for name in header])
    for row in table.rows:
        writer.writerow([_cell(cell(row)) for cell in cells])
    return buffer.getvalue()


def csv_response(table: Table, *, filename: str) -> HttpResponse:
    response = HttpResponse(table_csv(table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
