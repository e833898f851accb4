"""CodeCarbon's emissions.csv: parsing and turning its run totals into intervals (pure).

CodeCarbon's file output writes, at each flush() and at stop(), one row holding the run's
totals so far (energy since the start of the run, `duration` seconds since the start), not
the interval since the previous row. A file may hold several rows of one run ("append" mode)
or only its latest ("update" mode). So a row is a snapshot, and the energy of an interval is the
difference between two snapshots of the same run.

Columns of the current release (3.x, `EmissionsData`): timestamp, project_name, run_id,
experiment_id, duration, emissions, emissions_rate, cpu_power, gpu_power, ram_power,
cpu_energy, gpu_energy, ram_energy, energy_consumed, water_consumed, country_name,
country_iso_code, region, cloud_provider, cloud_region, os, python_version, codecarbon_version,
cpu_count, cpu_model, gpu_count, gpu_model, longitude, latitude, ram_total_size, tracking_mode,
cpu_utilization_percent, gpu_utilization_percent, ram_utilization_percent, ram_used_gb, on_cloud,
pue, wue. Older releases lack some of them; only timestamp, duration and energy_consumed are
required. Files of 1.x name the run `experiment_id` and have no `run_id` column.
"""

import csv
import io
import math
from dataclasses import dataclass
from datetime import datetime, tzinfo

REQUIRED_COLUMNS = ("timestamp", "duration", "energy_consumed")
# CodeCarbon writes the run id as "None" when its API output was on (3.x gives the run no id
# before the API answers); such rows cannot be tied to the other rows of their run.
NO_RUN_ID = {"", "none", "nan", "null"}


class CsvError(ValueError):
    """A file that cannot be loaded; names the line (1 = the header)."""

    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


@dataclass(frozen=True)
class Snapshot:
    """One row: the run's totals at `timestamp`."""

    line: int
    timestamp: datetime
    run_id: str  # "" when the row names no run
    experiment_id: str
    duration_s: float
    energy_kwh: float
    cpu_energy_kwh: float | None
    gpu_energy_kwh: float | None
    ram_energy_kwh: float | None
    emissions_kg: float | None
    cpu_power_w: float | None
    gpu_power_w: float | None
    ram_power_w: float | None
    cpu_utilization_pct: float | None
    gpu_utilization_pct: float | None
    ram_utilization_pct: float | None
    tracking_mode: str
    country_iso_code: str
    country_name: str
    region: str
    cloud_provider: str
    cloud_region: str
    os: str
    python_version: str
    codecarbon_version: str
    cpu_count: float | None
    cpu_model: str
    gpu_count: float | None
    gpu_model: str
    ram_total_size_gb: float | None


@dataclass(frozen=True)
class RunTotals:
    """What is already stored of a run: seconds and energies summed over its intervals."""

    duration_s: float = 0.0
    energy_kwh: float = 0.0
    cpu_energy_kwh: float = 0.0
    gpu_energy_kwh: float = 0.0
    ram_energy_kwh: float = 0.0
    emissions_kg: float = 0.0


@dataclass(frozen=True)
class Interval:
    """Energy of a run between two snapshots, ending at `timestamp`."""

    line: int
    timestamp: datetime
    duration_s: float
    energy_kwh: float
    cpu_energy_kwh: float | None
    gpu_energy_kwh: float | None
    ram_energy_kwh: float | None
    emissions_kg: float | None


def parse_emissions_csv(text: str, *, naive_tz: tzinfo) -> list[Snapshot]:
    """Every row of the file, or CsvError naming the first bad line.

    CodeCarbon writes the local time of the machine without an offset; `naive_tz` says which
    zone that was (timestamps with an offset keep theirs).
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if not header or not any(cell.strip() for cell in header):
        raise CsvError(0, "the file is empty (no header line)")
    columns = [cell.strip() for cell in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise CsvError(1, f"missing column(s) {', '.join(missing)}: not a CodeCarbon emissions.csv")
    rows = []
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            raise CsvError(line, f"{len(cells)} values for {len(columns)} columns")
        rows.append(_snapshot(line, dict(zip(columns, cells, strict=True)), naive_tz))
    if not rows:
        raise CsvError(0, "the file has a header but no rows")
    return rows


def _snapshot(line: int, row: dict[str, str], naive_tz: tzinfo) -> Snapshot:
    def text(name: str, limit: int = 200) -> str:
        value = (row.get(name) or "").strip()
        if value.lower() in ("nan", "none"):
            return ""
        if any(ord(char) < 32 for char in value):
            raise CsvError(line, f"{name}: control characters are not allowed")
        return value[:limit]

    def number(name: str, *, required: bool = False) -> float | None:
        raw = (row.get(name) or "").strip()
        if raw == "" or raw.lower() == "nan":
            if required:
                raise CsvError(line, f"{name}: a number is required")
            return None
        try:
            value = float(raw)
        except ValueError:
            raise CsvError(line, f"{name}: {raw!r} is not a number") from None
        if not math.isfinite(value):
            raise CsvError(line, f"{name}: {raw!r} is not a finite number")
        return value

    def energy(name: str, *, required: bool = False) -> float | None:
        value = number(name, required=required)
        if value is not None and value < 0:
            raise CsvError(line, f"{name}: energy cannot be negative ({value})")
        return value

    raw_ts = text("timestamp")
    try:
        timestamp = datetime.fromisoformat(raw_ts)
    except ValueError:
        raise CsvError(line, f"timestamp: {raw_ts!r} is not an ISO 8601 date and time") from None
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=naive_tz)
    if timestamp.year < 2000:
        raise CsvError(line, f"timestamp: {raw_ts!r} is before 2000")
    duration = number("duration", required=True)
    if duration < 0:
        raise CsvError(line, f"duration: cannot be negative ({duration})")
    has_run_column = "run_id" in row
    run_id = text("run_id" if has_run_column else "experiment_id", 100)
    if run_id.lower() in NO_RUN_ID:
        run_id = ""
    return Snapshot(
        line=line,
        timestamp=timestamp,
        run_id=run_id,
        experiment_id=text("experiment_id", 100) if has_run_column else "",
        duration_s=duration,
        energy_kwh=energy("energy_consumed", required=True),
        cpu_energy_kwh=energy("cpu_energy"),
        gpu_energy_kwh=energy("gpu_energy"),
        ram_energy_kwh=energy("ram_energy"),
        emissions_kg=number("emissions"),
        cpu_power_w=number("cpu_power"),
        gpu_power_w=number("gpu_power"),
        ram_power_w=number("ram_power"),
        cpu_utilization_pct=number("cpu_utilization_percent"),
        gpu_utilization_pct=number("gpu_utilization_percent"),
        ram_utilization_pct=number("ram_utilization_percent"),
        tracking_mode=text("tracking_mode", 20),
        country_iso_code=text("country_iso_code", 3).upper(),
        country_name=text("country_name", 100),
        region=text("region", 100),
        cloud_provider=text("cloud_provider", 50).lower(),
        cloud_region=text("cloud_region", 100),
        os=text("os"),
        python_version=text("python_version", 30),
        codecarbon_version=text("codecarbon_version", 30),
        cpu_count=number("cpu_count"),
        cpu_model=text("cpu_model"),
        gpu_count=number("gpu_count"),
        gpu_model=text("gpu_model", 300),
        ram_total_size_gb=number("ram_total_size"),
    )


def _slack(total: float) -> float:
    return abs(total) * 1e-9


def intervals_from_snapshots(stored: RunTotals, snapshots: list[Snapshot]) -> list[Interval]:
    """The intervals the snapshots of one run add to what is stored of it.

    Snapshots are ordered by run time; one that does not go beyond what is stored (the same row
    imported again, or an older row of a run whose later row is stored) adds nothing. A snapshot
    whose energy is lower than an earlier one of the same run is an error (CsvError).
    """
    intervals = []
    previous = stored
    for snapshot in sorted(snapshots, key=lambda s: (s.duration_s, s.energy_kwh, s.line)):
        # Stored totals are sums of differences: equal to a row's totals up to rounding.
        covered_s = previous.duration_s + _slack(previous.duration_s)
        covered_kwh = previous.energy_kwh + _slack(previous.energy_kwh)
        if snapshot.duration_s <= covered_s and snapshot.energy_kwh <= covered_kwh:
            continue
        delta_energy = snapshot.energy_kwh - previous.energy_kwh
        if delta_energy < -_slack(previous.energy_kwh) or snapshot.duration_s < previous.duration_s:
            raise CsvError(
                snapshot.line,
                f"run {snapshot.run_id}: energy_consumed {snapshot.energy_kwh} after "
                f"{snapshot.duration_s} s is lower than the {previous.energy_kwh} kWh of an "
                "earlier row of the same run",
            )

        def part(now: float | None, before: float) -> float | None:
            return None if now is None else max(0.0, now - before)

        intervals.append(
            Interval(
                line=snapshot.line,
                timestamp=snapshot.timestamp,
                duration_s=snapshot.duration_s - previous.duration_s,
                energy_kwh=max(0.0, delta_energy),
                cpu_energy_kwh=part(snapshot.cpu_energy_kwh, previous.cpu_energy_kwh),
                gpu_energy_kwh=part(snapshot.gpu_energy_kwh, previous.gpu_energy_kwh),
                ram_energy_kwh=part(snapshot.ram_energy_kwh, previous.ram_energy_kwh),
                emissions_kg=part(snapshot.emissions_kg, previous.emissions_kg),
            )
        )
        previous = RunTotals(
            duration_s=snapshot.duration_s,
            energy_kwh=snapshot.energy_kwh,
            cpu_energy_kwh=snapshot.cpu_energy_kwh or 0.0,
            gpu_energy_kwh=snapshot.gpu_energy_kwh or 0.0,
            ram_energy_kwh=snapshot.ram_energy_kwh or 0.0,
            emissions_kg=snapshot.emissions_kg or 0.0,
        )
    return intervals


def whole_run_interval(snapshot: Snapshot) -> Interval:
    """A row that names no run: its totals are one interval from the start of its run."""
    return Interval(
        line=snapshot.line,
        timestamp=snapshot.timestamp,
        duration_s=snapshot.duration_s,
        energy_kwh=snapshot.energy_kwh,
        cpu_energy_kwh=snapshot.cpu_energy_kwh,
        gpu_energy_kwh=snapshot.gpu_energy_kwh,
        ram_energy_kwh=snapshot.ram_energy_kwh,
        emissions_kg=snapshot.emissions_kg,
    )
