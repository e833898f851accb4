"""Request and response bodies of the read API (pydantic; they also give the OpenAPI schema)."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assessments.organisation.work_bounds import UNITS_MAX
from greenai_site.openapi import NO_CONTROL_CHARACTERS


class SiteFactors(BaseModel):
    """The factor values used across the days of the period at one site: their spread from
    day to day, not their uncertainty (that is `ranges`)."""

    site: str | None = Field(description="Site name; null for hosts without a site.")
    pue: list[float | None] = Field(description="[lowest, highest] PUE used in the period.")
    pue_source: str
    price_per_kwh: list[float | None] = Field(
        description="[lowest, highest] electricity price used, in the organisation's currency."
    )
    price_source: str
    grid_gco2e_per_kwh: list[float | None] = Field(
        description="[lowest, highest] grid intensity used, gCO2e/kWh."
    )


class FootprintFactors(BaseModel):
    """The factors the period's figures were computed with, and their spread across its days
    (lowest and highest value seen). Variation over time, not uncertainty: a figure's
    uncertainty bounds are in `ranges`."""

    sites: list[SiteFactors]
    grid_sources: list[str] = Field(description="Sources of the grid intensities used.")
    notes: list[str] = Field(description="Data gaps and fallbacks in the period.")
    methodology: str = Field(default="/methodology/", description="How every number is computed.")


class ReportedByCodeCarbon(BaseModel):
    """Energy CodeCarbon reported for the scope (docs/codecarbon.md); the counted part is
    included in the footprint's totals, the overlap is not."""

    energy_kwh: float = Field(description="Reported energy counted (hours no agent measured).")
    facility_energy_kwh: float
    operational_kgco2e: float
    cost: float
    overlap_energy_kwh: float = Field(
        description="Reported energy of hours the agent measured: shown, not counted."
    )
    overlap_operational_kgco2e: float
    runs: int = Field(description="CodeCarbon runs with energy in the period.")


class FigureRange(BaseModel):
    """A figure's low and high within the bounds of its inputs (docs/methodology.md, "Ranges")."""

    low: float = Field(description="Every input at the bound that lowers the figure.")
    high: float = Field(description="Every input at the bound that raises the figure.")


class FigureRanges(BaseModel):
    """The uncertainty range of each figure; counts (gpu_hours, work_units, coverage) have none."""

    energy_kwh: FigureRange
    facility_energy_kwh: FigureRange
    operational_kgco2e: FigureRange
    embodied_kgco2e: FigureRange
    total_kgco2e: FigureRange
    cost: FigureRange
    sci: FigureRange | None = Field(description="Total's range / work units; null without SCI.")


class RangeDriver(BaseModel):
    """An input's share of the width of total_kgco2e's range."""

    input: str = Field(
        description='The input: "site:NAME:pue", "site:NAME:grid", "site:NAME:price", '
        '"hardware_model:NAME:embodied", "hardware_model:NAME:lifetime", "host:NAME:embodied", '
        '"host:NAME:lifetime" or "measurement:KIND" (nvml_gpu, rapl_cpu, codecarbon, '
        'simulated); site "-" stands for devices without a site.'
    )
    label: str = Field(description='The input in words, e.g. "PUE of paris-dc1".')
    share: float = Field(
        description="(width - width with this input at its value) / width; shares need not "
        "add up to 1."
    )


class WorkOfKind(BaseModel):
    measured: float = Field(description="Units the serving engine's counters measured.")
    posted: float = Field(description="Units posted by hand for hours no counter covered.")
    overlap: float = Field(
        description="Units posted by hand for hours the counters covered: shown, never added."
    )
    source: Literal["measured", "posted", "measured+posted"] | None


class ServingFigures(BaseModel):
    """Per-request and per-token figures of a serving project over the period."""

    requests: float
    input_tokens: float
    output_tokens: float
    requests_source: str | None = Field(description="measured, posted or measured+posted.")
    output_tokens_source: str | None
    kwh_per_1k_requests: float | None = Field(description="IT energy per 1,000 requests, kWh.")
    kgco2e_per_1k_requests: float | None = Field(
        description="Operational + embodied carbon per 1,000 requests, kgCO2e."
    )
    kwh_per_1m_output_tokens: float | None = Field(
        description="IT energy per 1 M output tokens, kWh."
    )
    kgco2e_per_1m_output_tokens: float | None = Field(
        description="Operational + embodied carbon per 1 M output tokens, kgCO2e."
    )


class Footprint(BaseModel):
    start: date = Field(description="First UTC day of the period.")
    end: date = Field(description="UTC day after the period (exclusive).")
    energy_kwh: float = Field(
        description="IT energy measured at the devices, plus energy reported by CodeCarbon for "
        "hours no agent measured (see `codecarbon`), kWh."
    )
    facility_energy_kwh: float = Field(description="IT energy x PUE, kWh.")
    operational_kgco2e: float = Field(description="Facility energy x grid intensity, kgCO2e.")
    embodied_kgco2e: float = Field(description="Manufacturing carbon of the time used, kgCO2e.")
    total_kgco2e: float = Field(description="Operational + embodied, kgCO2e.")
    cost: float = Field(description="Facility energy x electricity price, in `currency`.")
    currency: str = Field(description="ISO 4217 code of `cost`.")
    gpu_hours: float = Field(description="Measured device-hours.")
    work_units: float = Field(
        description="Units of work of each project's declared kind in the period (pro rata); "
        "measured work replaces posted work for the hours the counters cover."
    )
    work_units_by_kind: dict[str, float] = Field(
        default_factory=dict,
        description="Units per kind (requests, input_tokens, output_tokens, other); kinds are "
        "never summed together.",
    )
    work_by_kind: dict[str, WorkOfKind] = Field(
        default_factory=dict, description="Per kind: measured, posted and overlapping units."
    )
    sci: float | None = Field(
        description="Software Carbon Intensity (O + M) / R, kgCO2e per work unit; "
        "null without work units, or when the projects in scope count different units."
    )
    coverage: float | None = Field(
        description="Measured / expected device-seconds of the devices that reported (0..1)."
    )
    factors: FootprintFactors = Field(
        description="The factors used and their spread across the days of the period (not "
        "uncertainty: see `ranges`)."
    )
    ranges: FigureRanges = Field(
        description="Uncertainty: each figure's low and high, every input at the bound that "
        'lowers or raises it (docs/methodology.md, "Ranges").'
    )
    range_drivers: list[RangeDriver] = Field(
        description="The inputs that widen total_kgco2e's range, largest share first; empty "
        "when the range has no width."
    )
    codecarbon: ReportedByCodeCarbon | None = Field(
        default=None, description="Of the figures above, the energy reported by CodeCarbon."
    )


class ProjectFootprint(Footprint):
    project: str = Field(description="Project slug.")
    team: str = Field(description="Team slug.")
    phase: str
    work_unit: str = Field(description="Name of one unit of work, e.g. 'inferences'.")
    work_kind: str = Field(description="Kind of work the project's work_units and SCI count.")
    serving: ServingFigures | None = Field(
        default=None, description="Per 1,000 requests and per 1 M output tokens; null without."
    )


class TeamFootprint(Footprint):
    team: str = Field(description="Team slug.")


class OrganisationFootprint(Footprint):
    organisation: str
    site: str | None = Field(default=None, description="Site filter, if any.")
    unallocated_energy_kwh: float = Field(
        description="Measured IT energy no project tag or allocation covered, kWh."
    )
    unallocated_embodied_kgco2e: float = Field(
        description="Embodied carbon of in-service time no project used (measured or not), kgCO2e."
    )


class WorkRequest(BaseModel):
    """Units of useful work: over [start, end), or at one instant `ts`."""

    # "start and end, or ts" said in the schema too; the rest of the period's rules (end after
    # start, from 2000, at most a day ahead, at most 366 days) OpenAPI cannot state: its 400 does.
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["start", "end"],
                    "properties": {"start": {"type": "string"}, "end": {"type": "string"}},
                    "not": {"required": ["ts"], "properties": {"ts": {"type": "string"}}},
                },
                {
                    "required": ["ts"],
                    "properties": {
                        "ts": {"type": "string"},
                        "start": {"type": "null"},
                        "end": {"type": "null"},
                    },
                },
            ]
        },
    )

    units: float = Field(
        gt=0, le=UNITS_MAX, allow_inf_nan=False, description="Units of work, > 0 and <= 1e15."
    )
    start: datetime | None = Field(default=None, description="ISO 8601 with time zone.")
    end: datetime | None = Field(default=None, description="ISO 8601 with time zone, exclusive.")
    ts: datetime | None = Field(default=None, description="One instant, instead of start/end.")
    # No control character: PostgreSQL cannot store NUL, and a note is one line of text.
    note: str = Field(default="", max_length=300, pattern=NO_CONTROL_CHARACTERS)
    kind: Literal["requests", "input_tokens", "output_tokens", "other"] | None = Field(
        default=None,
        description="What the units count; by default the kind of the project's declared unit.",
    )

    @model_validator(mode="after")
    def one_period(self):
        if self.ts is not None:
            if self.start is not None or self.end is not None:
                raise ValueError("give either ts or start and end, not both")
        elif self.start is None or self.end is None:
            raise ValueError("give start and end, or ts")
        elif self.end <= self.start:
            raise ValueError("end must be after start")
        for name in ("start", "end", "ts"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must carry a time zone, e.g. 2026-11-28T06:00:00Z")
        return self


class WorkRecorded(BaseModel):
    id: int
    project: str
    units: float
    kind: str
    start: datetime
    end: datetime
