"""Hourly grid carbon-intensity series from CSV files.

Two formats are read: a generic CSV with a timestamp column and a gCO2e/kWh column (found by
their header names), and Electricity Maps' hourly export (one file per zone and year; its
life-cycle column by default, the direct one on request). `parse_grid_csv` is pure: text in,
one value per UTC hour out, or an error naming the file line and column. `grid_series_save`
upserts the hours of one zone.

Each value holds for the hour that starts at its timestamp (UTC). Rows within one hour (a
15-minute series) are averaged into that hour.
"""

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

BASIS_LCA = "lca"
BASIS_DIRECT = "direct"
BASIS_WORDS = {BASIS_LCA: "life-cycle", BASIS_DIRECT: "direct"}

GENERIC_TIME_COLUMNS = ("timestamp", "datetime", "datetime (utc)", "time", "date", "hour", "ts")
GENERIC_VALUE_COLUMNS = (
    "gco2e_per_kwh",
    "carbon_intensity",
    "carbon_intensity_gco2e_per_kwh",
    "gco2eq_per_kwh",
    "gco2_per_kwh",
    "intensity",
)
# Plausible bounds: the dirtiest grids are near 1,200 gCO2e/kWh; anything above is a unit slip.
MAX_GCO2E_PER_KWH = 2000.0


class GridImportError(ValueError):
    """The file cannot be imported; nothing was stored."""


@dataclass(frozen=True)
class GridSeries:
    hours: dict[datetime, float]  # hour start (UTC) -> gCO2e/kWh
    basis: str  # "lca" or "direct"
    file_format: str  # "electricity_maps" or "generic"
    zone_id: str  # Electricity Maps' zone id ("FR"); "" for a generic file
    column: str  # header of the value column used
    country: str = ""  # Electricity Maps' country name ("France"); "" for a generic file

    @property
    def start(self) -> datetime:
        return min(self.hours)

    @property
    def end(self) -> datetime:
        """Exclusive: the end of the last hour."""
        return max(self.hours) + timedelta(hours=1)

    def describe_source(self, file_name: str) -> str:
        years = sorted({hour.year for hour in self.hours})
        span = str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"
        basis = BASIS_WORDS[self.basis]
        if self.file_format == "electricity_maps":
            return f"Electricity Maps hourly export {self.zone_id} {span}, {basis}"
        return f"{file_name} ({span}, {basis} as declared on import)"


def _header_key(name: str) -> str:
    """Compare headers without case, spacing or the subscript in "gCO₂eq"."""
    return " ".join(name.replace("₂", "2").strip().lower().split())


def _electricity_maps_column(headers: list[str], basis: str) -> int | None:
    for index, header in enumerate(headers):
        key = _header_key(header)
        if not key.startswith("carbon intensity"):
            continue
        if basis == BASIS_DIRECT and key.endswith("(direct)"):
            return index
        if basis == BASIS_LCA and (key.endswith("(lca)") or key.endswith("(life cycle)")):
            return index
    return None


def _parse_time(raw: str) -> datetime:
    text = raw.strip()
    if re.fullmatch(r"\d{9,11}(\.\d+)?", text):  # epoch seconds
        return datetime.fromtimestamp(float(text), tz=UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_grid_csv(text: str, *, file_name: str = "grid.csv", basis: str = BASIS_LCA) -> GridSeries:
    """The hourly series in `text`; raises GridImportError naming the line and column."""
    if basis not in BASIS_WORDS:
        raise GridImportError(f"basis must be {BASIS_LCA} or {BASIS_DIRECT}, got {basis!r}")
    text = text.lstrip("\ufeff")
    first_line = text.split("\n", 1)[0]
    # Spreadsheets in many European locales save CSV with semicolons.
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        headers = next(reader)
    except StopIteration:
        raise GridImportError(f"{file_name}: the file is empty") from None
    keys = [_header_key(h) for h in headers]

    zone_column = country_column = None
    if "datetime (utc)" in keys and any(k.startswith("carbon intensity") for k in keys):
        file_format = "electricity_maps"
        time_column = keys.index("datetime (utc)")
        value_column = _electricity_maps_column(headers, basis)
        if value_column is None:
            wanted = "(direct)" if basis == BASIS_DIRECT else "(LCA) or (Life cycle)"
            raise GridImportError(
                f"{file_name} line 1: no 'Carbon Intensity gCO2eq/kWh {wanted}' column in this "
                "Electricity Maps export"
            )
        zone_column = keys.index("zone id") if "zone id" in keys else None
        country_column = keys.index("country") if "country" in keys else None
    else:
        file_format = "generic"
        time_column = next((keys.index(c) for c in GENERIC_TIME_COLUMNS if c in keys), None)
        value_column = next((keys.index(c) for c in GENERIC_VALUE_COLUMNS if c in keys), None)
        if time_column is None or value_column is None:
            raise GridImportError(
                f"{file_name} line 1: header must name a timestamp column "
                f"({', '.join(GENERIC_TIME_COLUMNS)}) and a gCO2e/kWh column "
                f"({', '.join(GENERIC_VALUE_COLUMNS)}), or be an Electricity Maps export; "
                f"got {', '.join(headers)}"
            )
    time_header, value_header = headers[time_column], headers[value_column]

    sums: dict[datetime, list[float]] = {}
    seen: dict[datetime, int] = {}
    zone_ids, countries = set(), set()
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(time_column, value_column):
            raise GridImportError(
                f"{file_name} line {line}: has {len(row)} columns, the header has {len(headers)}"
            )
        raw_time, raw_value = row[time_column], row[value_column]
        try:
            moment = _parse_time(raw_time)
        except (ValueError, OverflowError, OSError):
            raise GridImportError(
                f"{file_name} line {line}, column {time_header!r}: not a timestamp: {raw_time!r} "
                "(use ISO 8601 like 2024-01-01 00:00:00, UTC unless an offset is given)"
            ) from None
        if moment in seen:
            raise GridImportError(
                f"{file_name} line {line}, column {time_header!r}: {raw_time.strip()} appears "
                f"twice (first on line {seen[moment]})"
            )
        seen[moment] = line
        try:
            # With semicolons, a comma is the decimal separator ("55,3").
            value = float(raw_value.replace(",", ".") if delimiter == ";" else raw_value)
        except ValueError:
            raise GridImportError(
                f"{file_name} line {line}, column {value_header!r}: not a number: {raw_value!r}"
            ) from None
        if not 0 <= value <= MAX_GCO2E_PER_KWH:
            raise GridImportError(
                f"{file_name} line {line}, column {value_header!r}: {value:g} gCO2e/kWh is "
                f"outside 0 to {MAX_GCO2E_PER_KWH:g} (is it in gCO2e/kWh?)"
            )
        hour = moment.replace(minute=0, second=0, microsecond=0)
        sums.setdefault(hour, []).append(value)
        if zone_column is not None and len(row) > zone_column and row[zone_column].strip():
            zone_ids.add(row[zone_column].strip())
        if country_column is not None and len(row) > country_column:
            countries.add(row[country_column].strip())
    if not sums:
        raise GridImportError(f"{file_name}: no data rows after the header")
    if len(zone_ids) > 1:
        raise GridImportError(
            f"{file_name}: holds several zones ({', '.join(sorted(zone_ids))}); "
            "import one zone per file"
        )
    hours = {hour: sum(values) / len(values) for hour, values in sorted(sums.items())}
    return GridSeries(
        hours=hours,
        basis=basis,
        file_format=file_format,
        zone_id=next(iter(zone_ids), ""),
        column=value_header,
        country=next(iter(countries), "") if len(countries) == 1 else "",
    )


def close_zone_codes(code: str, limit: int = 5) -> list[str]:
    """Known zone codes that look like `code` (for "did you mean" in errors): codes starting
    with it, then similar codes, then zones whose name contains it."""
    import difflib

    from assessments.models import GridZone

    zones = list(GridZone.objects.order_by("code").values_list("code", "name"))
    wanted = code.strip().lower()
    codes = [c for c, _ in zones]
    prefixed = [c for c in codes if wanted and c.lower().startswith(wanted)]
    similar = difflib.get_close_matches(code, codes, n=limit, cutoff=0.5)
    named = [c for c, name in zones if len(wanted) > 2 and wanted in name.lower()]
    matches = []
    for candidate in prefixed + similar + named:
        if candidate not in matches:
            matches.append(candidate)
    return matches[:limit]


def zone_mismatch(series: GridSeries, zone) -> str | None:
    """A warning when an Electricity Maps file is plainly for another country than the zone."""
    if not series.country or zone.kind != "country":
        return None
    if series.country.lower() in zone.name.lower() or zone.name.lower() in series.country.lower():
        return None
    return (
        f"the file is for {series.country} ({series.zone_id}) but zone {zone.code} is "
        f"{zone.name}: check --zone"
    )


def grid_series_save(*, zone_code: str, series: GridSeries, source: str) -> int:
    """Upsert the series' hours for one zone; returns how many hours were stored."""
    from django.db import transaction
    from django.utils import timezone

    from assessments.models import GridIntensityHour, GridZone

    zone = GridZone.objects.get(code=zone_code)
    now = timezone.now()
    rows = [
        GridIntensityHour(
            zone=zone,
            hour=hour,
            gco2e_per_kwh=value,
            basis=series.basis,
            source=source[:300],
            imported_at=now,
        )
        for hour, value in series.hours.items()
    ]
    with transaction.atomic():
        GridIntensityHour.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["zone", "hour"],
            update_fields=["gco2e_per_kwh", "basis", "source", "imported_at"],
        )
    return len(rows)
