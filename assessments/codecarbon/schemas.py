"""What CodeCarbon's API client sends (codecarbon.core.schemas, 3.x), as strict pydantic models.

Only the fields GreenAI uses are checked beyond their type; unknown fields are ignored, since
newer CodeCarbon releases add some and a team must not have to upgrade GreenAI first.
"""

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, field_validator

from greenai_site.openapi import NO_CONTROL_CHARACTERS

MAX_FUTURE = timedelta(minutes=10)
# An interval longer than a day means a clock or client fault, not a measurement.
MAX_INTERVAL_S = 86_400

_STRICT = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)

ShortText = Annotated[str, Field(max_length=200)]
Energy = Annotated[float, Field(ge=0)]


def _not_in_future(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a UTC offset")
    if value.year < 2000:
        raise ValueError("is before 2000")
    if value > timezone.now() + MAX_FUTURE:
        raise ValueError("is more than 10 minutes ahead of the server clock")
    return value


class RunIn(BaseModel):
    """POST /runs: codecarbon.core.schemas.RunCreate."""

    model_config = _STRICT

    timestamp: datetime
    experiment_id: uuid.UUID
    os: ShortText | None = None
    python_version: Annotated[str, Field(max_length=30)] | None = None
    codecarbon_version: Annotated[str, Field(max_length=30)] | None = None
    cpu_count: Annotated[int, Field(ge=0, le=100_000)] | None = None
    cpu_model: ShortText | None = None
    gpu_count: Annotated[int, Field(ge=0, le=100_000)] | None = None
    gpu_model: Annotated[str, Field(max_length=300)] | None = None
    longitude: float | None = None
    latitude: float | None = None
    region: Annotated[str, Field(max_length=100)] | None = None
    provider: Annotated[str, Field(max_length=50)] | None = None
    ram_total_size: Annotated[float, Field(ge=0)] | None = None
    tracking_mode: Annotated[str, Field(max_length=20)] | None = None

    _timestamp = field_validator("timestamp")(_not_in_future)


class EmissionIn(BaseModel):
    """POST /emissions: codecarbon.core.schemas.EmissionCreate (energies in kWh)."""

    model_config = _STRICT

    timestamp: datetime
    run_id: uuid.UUID
    duration: Annotated[float, Field(ge=0, le=MAX_INTERVAL_S)]
    emissions_sum: float | None = None
    emissions_rate: float | None = None
    cpu_power: Annotated[float, Field(ge=0)] | None = None
    gpu_power: Annotated[float, Field(ge=0)] | None = None
    ram_power: Annotated[float, Field(ge=0)] | None = None
    cpu_energy: Energy
    gpu_energy: Energy
    ram_energy: Energy
    energy_consumed: Energy
    cpu_utilization_percent: Annotated[float, Field(ge=0, le=100_000)] | None = None
    gpu_utilization_percent: Annotated[float, Field(ge=0, le=100_000)] | None = None
    ram_utilization_percent: Annotated[float, Field(ge=0, le=100_000)] | None = None

    _timestamp = field_validator("timestamp")(_not_in_future)


class ExperimentMappingIn(BaseModel):
    """POST /api/v1/projects/<slug>/codecarbon-experiments."""

    model_config = ConfigDict(strict=True, extra="forbid")

    id: uuid.UUID
    # No control character (the schema says so): PostgreSQL cannot even look up a NUL.
    phase: Annotated[str, Field(max_length=20, pattern=NO_CONTROL_CHARACTERS)] = ""
    site: Annotated[str, Field(max_length=100, pattern=NO_CONTROL_CHARACTERS)] = ""


class ExperimentMapping(BaseModel):
    id: uuid.UUID = Field(description="CodeCarbon experiment id.")
    project: str = Field(description="Project slug.")
    phase: str = Field(description="Lifecycle phase its runs count for.")
    phase_set: str | None = Field(description="Phase given in the mapping; null: the project's.")
    site: str | None = Field(description="Site of its runs; null: the run's country or region.")
    created_at: str


class ExperimentMappingList(BaseModel):
    experiments: list[ExperimentMapping]
