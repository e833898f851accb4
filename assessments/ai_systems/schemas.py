"""Bodies of the AI systems API (pydantic; they also give the OpenAPI schema)."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from assessments.footprint.schemas import FigureRange, FigureRanges
from greenai_site.openapi import NO_CONTROL_CHARACTERS

RELATIONS = ("fine_tuned", "distilled", "quantised", "pruned", "retrained")
SLUG = "^[-a-zA-Z0-9_]+$"


class VersionFigures(BaseModel):
    """The figures of the read API's footprint (energy IT and facility, carbon, cost)."""

    energy_kwh: float = Field(description="IT energy, kWh.")
    facility_energy_kwh: float
    operational_kgco2e: float
    embodied_kgco2e: float
    total_kgco2e: float
    cost: float
    gpu_hours: float
    work_units: float = Field(
        description="one_off: its projects' declared units; serving: requests served."
    )
    sci: float | None = Field(
        description="kgCO2e per work unit; null without units or with mixed units."
    )
    coverage: float | None = Field(description="The lowest coverage of its parts, 0..1.")
    ranges: FigureRanges = Field(
        description="Each figure's low and high, as the read API's footprint: each part's "
        "project's range times its share, summed over the parts (docs/methodology.md, "
        '"Ranges").'
    )


class VersionRanges(BaseModel):
    """The low and high of the per-request figures: the same formulas at the low and at the
    high of one_off and serving (requests and tokens are counted, not uncertain)."""

    amortised_one_off_kgco2e_per_request: FigureRange | None
    energy_kwh_per_1m_output_tokens: FigureRange | None
    kgco2e_per_1k_requests: FigureRange | None
    lifecycle_kgco2e_per_1k_requests: FigureRange | None = Field(
        description="serving's bounds per 1,000 requests plus the amortised one-off's bounds."
    )


class VersionPartOut(BaseModel):
    project: str
    start: datetime
    end: datetime
    share: float = Field(
        description="The version's share of the project's figures over the part (output tokens)."
    )
    total_kgco2e: float


class LineageOut(BaseModel):
    version: str
    relation: str = Field(description="How the next version down the line was made from it.")
    one_off_kgco2e: float = Field(description="Its own one-off: shown, never added.")


class VersionFootprintOut(BaseModel):
    model: str
    version: str
    model_name: str
    parent: str | None
    relation: str
    start: date
    end: date = Field(description="Exclusive.")
    currency: str
    one_off: VersionFigures = Field(
        description="Its producing projects over their whole windows, whatever the period."
    )
    serving: VersionFigures = Field(description="Its serving projects within the period.")
    requests: float
    input_tokens: float
    output_tokens: float
    requests_to_date: float = Field(description="From its first serving day to the period's end.")
    planned_requests: int | None
    amortisation_requests: float = Field(description="max(planned_requests, requests_to_date).")
    amortised_one_off_kgco2e_per_request: float | None
    energy_kwh_per_1m_output_tokens: float | None = Field(description="Serving, IT energy.")
    kgco2e_per_1k_requests: float | None = Field(description="Serving.")
    lifecycle_kgco2e_per_1k_requests: float | None = Field(
        description="Serving plus the amortised one-off, per 1,000 requests."
    )
    ranges: VersionRanges = Field(
        description="Low and high of the per-request figures; null where the figure is null."
    )
    lineage: list[LineageOut]
    lineage_lines: list[str]
    one_off_parts: list[VersionPartOut]
    serving_parts: list[VersionPartOut]


class WindowOut(BaseModel):
    project: str
    start: datetime
    end: datetime | None


class VersionOut(BaseModel):
    version: str
    parent: str | None
    relation: str
    model_name: str
    planned_requests: int | None
    quality_metric: str
    quality_value: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    produced_by: list[WindowOut]
    served_by: list[WindowOut]


class ModelOut(BaseModel):
    slug: str
    name: str
    team: str
    versions: list[VersionOut]


class ModelList(BaseModel):
    count: int
    models: list[ModelOut]


class WindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    project: str = Field(max_length=100, pattern=SLUG, description="A project's slug.")
    start: date = Field(description="First UTC day, YYYY-MM-DD.")
    end: date | None = Field(
        default=None, description="UTC day after the last, exclusive; null: open (serving only)."
    )


class VersionCreate(BaseModel):
    """A new version of a model, with the projects that produced and serve it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    version: str = Field(min_length=1, max_length=50, pattern=NO_CONTROL_CHARACTERS)
    parent: str | None = Field(
        default=None, max_length=50, pattern=NO_CONTROL_CHARACTERS, description="Its version."
    )
    relation: Literal["fine_tuned", "distilled", "quantised", "pruned", "retrained"] | None = None
    model_name: str = Field(default="", max_length=200, pattern=NO_CONTROL_CHARACTERS)
    planned_requests: int | None = Field(default=None, ge=0, le=2**63 - 1)
    quality_metric: str = Field(default="", max_length=100, pattern=NO_CONTROL_CHARACTERS)
    quality_value: float | None = Field(default=None, allow_inf_nan=False)
    latency_p50_ms: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    latency_p95_ms: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    produced_by: list[WindowIn] = Field(default_factory=list, max_length=100)
    served_by: list[WindowIn] = Field(default_factory=list, max_length=100)
