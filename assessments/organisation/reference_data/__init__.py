"""Reference data shipped with GreenAI: annual grid intensity and embodied carbon of hardware,
and the bounds of measured energy and of the fallback factors (docs/methodology.md, "Ranges").

The CSV files next to this module are parsed by pure functions (text in, rows out) and loaded
into GridZone and HardwareModel by `load_reference_data()`, which the post_migrate hook and
`manage.py load_reference_data` both call.

Rule for user changes: a reference row is refreshed from the CSV only while its `source` is
still the shipped source. A row whose source someone changed (in the admin or through an
inventory file) is the organisation's own value and is left alone. Overrides otherwise live on
Site (PUE, price), Host (embodied, lifetime), Device (GPU model) and inventory GPU models.
"""

import csv
import functools
import io
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent

COUNTRIES_FILE = DATA_DIR / "grid_intensity_countries.csv"
CLOUD_REGIONS_FILE = DATA_DIR / "grid_intensity_cloud_regions.csv"
HARDWARE_FILE = DATA_DIR / "embodied_hardware.csv"
MEASUREMENT_BOUNDS_FILE = DATA_DIR / "measurement_bounds.csv"
FACTOR_BOUNDS_FILE = DATA_DIR / "factor_bounds.csv"

# The kinds of source measured energy comes from, each with its bounds in measurement_bounds.csv.
MEASUREMENT_KINDS = ("nvml_gpu", "rapl_cpu", "codecarbon", "simulated")
# The fallback factors (used where the organisation gave none) whose bounds factor_bounds.csv
# gives: the industry-average PUE and the world-average grid intensity.
FALLBACK_FACTORS = ("pue_fallback", "grid_fallback")

COUNTRY_SOURCE = "Our World in Data / Ember via CodeCarbon global_energy_mix.json (MIT)"
CLOUD_SOURCE_SUFFIX = "via CodeCarbon cloud/impact.csv (MIT)"

# Last-resort defaults, named exactly as their rows in embodied_hardware.csv.
FALLBACK_GPU_NAME = "any GPU (Impact Framework sci-embodied default)"
FALLBACK_HOST_NAME = "baseline server (Impact Framework sci-embodied default)"
FALLBACK_SOURCE = (
    "Green Software Foundation Impact Framework, builtin sci-embodied (CCF/Teads constants)"
)
# Sources the shipped rows carried before their bounds were cited: a stored row still carrying
# one was never the organisation's own value, so it is refreshed like a shipped row.
FORMER_SHIPPED_SOURCES = frozenset(
    {
        "BoaviztAPI 2.5.0 component/gpu, criteria gwp, embedded (computed 2026-11)",
        "BoaviztAPI 2.5.0 server rack model, criteria gwp, embedded (computed 2026-11)",
        "Luccioni et al., Estimating the Carbon Footprint of BLOOM, JMLR 2023",
        FALLBACK_SOURCE,
    }
)
FALLBACK_GPU_KGCO2E = 150.0
FALLBACK_HOST_KGCO2E = 1000.0
FALLBACK_LIFETIME_YEARS = 4.0


class ReferenceDataError(ValueError):
    """A shipped CSV is malformed (names the file and line)."""


@dataclass(frozen=True)
class ZoneRow:
    code: str
    name: str
    kind: str  # "country" or "cloud"
    gco2e_per_kwh: float
    year: int | None
    source: str


@dataclass(frozen=True)
class HardwareRow:
    kind: str  # "gpu" or "host"
    name: str
    embodied_kgco2e: float
    min_kgco2e: float | None
    max_kgco2e: float | None
    lifetime_years: float
    source: str
    lifetime_years_min: float | None = None
    lifetime_years_max: float | None = None


@dataclass(frozen=True)
class RelativeBounds:
    """An input's bounds as percentages of its value: low = value * (1 - low_pct / 100),
    high = value * (1 + high_pct / 100)."""

    low_pct: float
    high_pct: float
    source: str

    @property
    def low_ratio(self) -> float:
        return 1.0 - self.low_pct / 100.0

    @property
    def high_ratio(self) -> float:
        return 1.0 + self.high_pct / 100.0


def _rows(text: str, file_name: str, required: list[str]):
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in required if column not in (reader.fieldnames or [])]
    if missing:
        raise ReferenceDataError(f"{file_name}: missing column(s) {', '.join(missing)}")
    for row in reader:
        yield reader.line_num, row


def _float(value: str, file_name: str, line: int, column: str, *, optional=False):
    value = (value or "").strip()
    if value == "" and optional:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ReferenceDataError(
            f"{file_name} line {line}: {column}: not a number: {value!r}"
        ) from None
    if number < 0:
        raise ReferenceDataError(f"{file_name} line {line}: {column}: negative: {number}")
    return number


def parse_countries(text: str, file_name: str = COUNTRIES_FILE.name) -> list[ZoneRow]:
    rows = []
    for line, row in _rows(text, file_name, ["iso3", "country", "gco2e_per_kwh", "year"]):
        year = row["year"].strip()
        rows.append(
            ZoneRow(
                code=row["iso3"].strip().upper(),
                name=row["country"].strip(),
                kind="country",
                gco2e_per_kwh=_float(row["gco2e_per_kwh"], file_name, line, "gco2e_per_kwh"),
                year=int(year) if year else None,
                source=COUNTRY_SOURCE,
            )
        )
    return rows


def parse_cloud_regions(text: str, file_name: str = CLOUD_REGIONS_FILE.name) -> list[ZoneRow]:
    rows = []
    required = ["provider", "region", "country", "city", "gco2e_per_kwh", "source"]
    for line, row in _rows(text, file_name, required):
        provider, region = row["provider"].strip(), row["region"].strip()
        rows.append(
            ZoneRow(
                code=f"{provider}:{region}",
                name=f"{provider} {region} ({row['city'].strip()}, {row['country'].strip()})",
                kind="cloud",
                gco2e_per_kwh=_float(row["gco2e_per_kwh"], file_name, line, "gco2e_per_kwh"),
                # The provider's file does not say which year its figures are for.
                year=None,
                source=f"{row['source'].strip()} {CLOUD_SOURCE_SUFFIX}",
            )
        )
    return rows


def _optional_float(row: dict, column: str, file_name: str, line: int):
    return _float(row.get(column), file_name, line, column, optional=True)


def parse_hardware(text: str, file_name: str = HARDWARE_FILE.name) -> list[HardwareRow]:
    rows = []
    required = ["kind", "model", "embodied_kgco2e", "default_lifetime_years", "source"]
    for line, row in _rows(text, file_name, required):
        kind = row["kind"].strip()
        if kind not in ("gpu", "host"):
            raise ReferenceDataError(f"{file_name} line {line}: kind: {kind!r} is not gpu/host")
        rows.append(
            HardwareRow(
                kind=kind,
                name=row["model"].strip(),
                embodied_kgco2e=_float(row["embodied_kgco2e"], file_name, line, "embodied_kgco2e"),
                min_kgco2e=_float(row.get("min_kgco2e"), file_name, line, "min", optional=True),
                max_kgco2e=_float(row.get("max_kgco2e"), file_name, line, "max", optional=True),
                lifetime_years=_float(
                    row["default_lifetime_years"], file_name, line, "default_lifetime_years"
                ),
                source=row["source"].strip(),
                lifetime_years_min=_optional_float(row, "lifetime_years_min", file_name, line),
                lifetime_years_max=_optional_float(row, "lifetime_years_max", file_name, line),
            )
        )
    return rows


def parse_relative_bounds(
    text: str, file_name: str, key_column: str, expected: tuple[str, ...]
) -> dict[str, RelativeBounds]:
    """{key: RelativeBounds} of a bounds file; every expected key once, low_pct in [0, 100),
    high_pct >= 0, a source on every row."""
    result: dict[str, RelativeBounds] = {}
    for line, row in _rows(text, file_name, [key_column, "low_pct", "high_pct", "source"]):
        key = row[key_column].strip()
        if key not in expected:
            known = ", ".join(expected)
            raise ReferenceDataError(
                f"{file_name} line {line}: {key_column}: {key!r} is not one of {known}"
            )
        if key in result:
            raise ReferenceDataError(f"{file_name} line {line}: {key_column}: {key!r} twice")
        low = _float(row["low_pct"], file_name, line, "low_pct")
        high = _float(row["high_pct"], file_name, line, "high_pct")
        if low >= 100:
            raise ReferenceDataError(f"{file_name} line {line}: low_pct: must be < 100: {low:g}")
        source = (row["source"] or "").strip()
        if not source:
            raise ReferenceDataError(f"{file_name} line {line}: source: required")
        result[key] = RelativeBounds(low, high, source)
    missing = [key for key in expected if key not in result]
    if missing:
        raise ReferenceDataError(f"{file_name}: no row for {', '.join(missing)}")
    return result


@functools.cache
def measurement_bounds() -> dict[str, RelativeBounds]:
    """{source kind: bounds of the energy it measured} (MEASUREMENT_KINDS)."""
    return parse_relative_bounds(
        MEASUREMENT_BOUNDS_FILE.read_text("utf-8"),
        MEASUREMENT_BOUNDS_FILE.name,
        "source_kind",
        MEASUREMENT_KINDS,
    )


@functools.cache
def fallback_factor_bounds() -> dict[str, RelativeBounds]:
    """{fallback factor: bounds} of the defaults used where the organisation gave no value
    (FALLBACK_FACTORS); a value the organisation gave has only the bounds it gave."""
    return parse_relative_bounds(
        FACTOR_BOUNDS_FILE.read_text("utf-8"), FACTOR_BOUNDS_FILE.name, "factor", FALLBACK_FACTORS
    )


def shipped_zones() -> list[ZoneRow]:
    return parse_countries(COUNTRIES_FILE.read_text("utf-8")) + parse_cloud_regions(
        CLOUD_REGIONS_FILE.read_text("utf-8")
    )


def shipped_hardware() -> list[HardwareRow]:
    return parse_hardware(HARDWARE_FILE.read_text("utf-8"))


@functools.cache
def shipped_sources() -> frozenset[str]:
    """Every source string the shipped rows carry; a row with another source is the user's."""
    return (
        frozenset(
            {row.source for row in shipped_zones()} | {row.source for row in shipped_hardware()}
        )
        | FORMER_SHIPPED_SOURCES
    )


@dataclass
class LoadCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_user_value: int = 0


def _sync(model, rows, key_fields, value_fields, using: str) -> LoadCounts:
    """Bulk upsert by natural key in a few queries (this runs after every migrate and flush)."""
    counts = LoadCounts()
    manager = model.objects.using(using)
    existing = {tuple(getattr(obj, f) for f in key_fields): obj for obj in manager.all()}
    shipped = {row.source for row in rows} | FORMER_SHIPPED_SOURCES
    to_create, to_update = [], []
    for row in rows:
        key = tuple(getattr(row, f) for f in key_fields)
        obj = existing.get(key)
        if obj is None:
            to_create.append(model(**{f: getattr(row, f) for f in key_fields + value_fields}))
            counts.created += 1
        elif obj.source not in shipped:
            counts.kept_user_value += 1
        elif any(getattr(obj, f) != getattr(row, f) for f in value_fields):
            for f in value_fields:
                setattr(obj, f, getattr(row, f))
            to_update.append(obj)
            counts.updated += 1
        else:
            counts.unchanged += 1
    manager.bulk_create(to_create, batch_size=500)
    if to_update:
        manager.bulk_update(to_update, list(value_fields), batch_size=500)
    return counts


def load_reference_data(using: str = "default") -> dict[str, LoadCounts]:
    """Create or refresh the shipped grid zones and hardware models; idempotent."""
    from django.db import transaction

    from assessments.models import GridZone, HardwareModel

    zones, hardware = shipped_zones(), shipped_hardware()
    with transaction.atomic(using=using):
        return {
            "grid zones": _sync(
                GridZone,
                zones,
                ("code",),
                ("name", "kind", "gco2e_per_kwh", "year", "source"),
                using,
            ),
            "hardware models": _sync(
                HardwareModel,
                hardware,
                ("kind", "name"),
                (
                    "embodied_kgco2e",
                    "min_kgco2e",
                    "max_kgco2e",
                    "lifetime_years",
                    "lifetime_years_min",
                    "lifetime_years_max",
                    "source",
                ),
                using,
            ),
        }
