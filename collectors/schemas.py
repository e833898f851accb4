"""The ingest payload (DESIGN 3.2) as strict pydantic models, and its error details.

Strict mode: a string is never coerced into a number, unknown fields are refused, NaN and
Infinity are refused. Every problem is reported with the path of the field it concerns
("samples[3].power_w"), so an agent author can fix the exact value.
"""

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

MAX_POWER_W = 5000.0
MAX_DURATION_S = 3600.0
MAX_FUTURE = timedelta(minutes=10)
# Shares are floats sent by agents; allow rounding noise when they sum to exactly one.
SHARE_SUM_TOLERANCE = 1e-6

_STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

Text = Annotated[str, Field(max_length=200)]
DeviceUuid = Annotated[str, Field(min_length=1, max_length=128)]


class HostIn(BaseModel):
    model_config = _STRICT

    hostname: Annotated[str, Field(min_length=1, max_length=255)]
    agent_version: Annotated[str, Field(max_length=50)] = ""


class DeviceIn(BaseModel):
    model_config = _STRICT

    uuid: DeviceUuid
    kind: Literal["gpu", "cpu"] = "gpu"
    index: Annotated[int, Field(ge=0, le=10_000)] = 0
    name: Text = ""
    power_limit_w: Annotated[float, Field(ge=0, le=MAX_POWER_W)] | None = None
    is_mig: bool = False
    parent_uuid: Annotated[str, Field(max_length=128)] = ""


class TagIn(BaseModel):
    model_config = _STRICT

    project: Annotated[str, Field(min_length=1, max_length=100)]
    phase: Annotated[str, Field(max_length=50)] | None = None
    share: Annotated[float, Field(ge=0, le=1)]


class SampleIn(BaseModel):
    # The schema says what the validator below enforces: a number in energy_j or in power_w.
    model_config = ConfigDict(
        **_STRICT,
        json_schema_extra={
            "anyOf": [
                {"required": ["energy_j"], "properties": {"energy_j": {"type": "number"}}},
                {"required": ["power_w"], "properties": {"power_w": {"type": "number"}}},
            ]
        },
    )

    device: DeviceUuid
    ts: Annotated[
        datetime,
        WithJsonSchema(
            {
                "anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
                "description": "End of the interval: ISO 8601 (UTC if no offset) or epoch "
                "seconds; at most 10 minutes ahead of the server clock.",
            }
        ),
    ]
    duration_s: Annotated[float, Field(gt=0, le=MAX_DURATION_S)]
    energy_j: Annotated[float, Field(ge=0)] | None = None
    power_w: Annotated[float, Field(ge=0, le=MAX_POWER_W)] | None = None
    util_pct: Annotated[float, Field(ge=0, le=100)] | None = None
    mem_used_mib: Annotated[float, Field(ge=0)] | None = None
    tags: list[TagIn] | None = None

    @field_validator("ts", mode="before")
    @classmethod
    def _parse_ts(cls, value, info: ValidationInfo):
        ts = parse_timestamp(value)
        now = (info.context or {}).get("now") or datetime.now(UTC)
        if ts > now + MAX_FUTURE:
            server_now = now.replace(microsecond=0).isoformat()
            raise PydanticCustomError(
                "ts_in_future",
                f"{ts.isoformat()} is more than 10 minutes ahead of the server clock"
                f" ({server_now})",
            )
        return ts

    @field_validator("tags")
    @classmethod
    def _shares_sum_to_at_most_one(cls, tags):
        if tags and sum(tag.share for tag in tags) > 1 + SHARE_SUM_TOLERANCE:
            total = sum(tag.share for tag in tags)
            raise PydanticCustomError("share_sum", f"tag shares sum to {total:.6g}, above 1")
        return tags

    @model_validator(mode="after")
    def _energy_known_and_plausible(self):
        if self.energy_j is None:
            if self.power_w is None:
                raise PydanticCustomError(
                    "energy_missing",
                    "give energy_j or power_w (energy is then power_w * duration_s)",
                    {"loc": ["energy_j"]},
                )
            self.energy_j = self.power_w * self.duration_s
        elif self.energy_j / self.duration_s > MAX_POWER_W:
            power = self.energy_j / self.duration_s
            raise PydanticCustomError(
                "energy_implausible",
                f"{self.energy_j:g} J over {self.duration_s:g} s is a mean power of {power:.6g} W,"
                f" above the {MAX_POWER_W:g} W limit",
                {"loc": ["energy_j"]},
            )
        return self


class IngestPayload(BaseModel):
    """One batch pushed by an agent (DESIGN 3.2)."""

    model_config = _STRICT

    batch_id: uuid.UUID = Field(strict=False, description="Idempotency key chosen by the agent.")
    host: HostIn
    devices: list[DeviceIn] = []
    samples: list[SampleIn] = []

    @field_validator("devices")
    @classmethod
    def _devices_declared_once(cls, devices):
        seen = {}
        for position, device in enumerate(devices):
            if device.uuid in seen:
                raise PydanticCustomError(
                    "device_repeated",
                    f"device {device.uuid!r} is already declared at devices[{seen[device.uuid]}]",
                    {"loc": [position, "uuid"]},
                )
            seen[device.uuid] = position
        return devices


class IngestAnswer(BaseModel):
    """The answer to an accepted (202) or already stored (200) batch."""

    accepted: int = Field(description="Samples stored by this request (re-sent ones excluded).")
    duplicate: bool = Field(description="True when this batch_id was already stored.")


def parse_timestamp(value) -> datetime:
    """An aware UTC datetime from ISO 8601 text or epoch seconds; naive text is taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, bool):
        raise PydanticCustomError("ts_type", "give ISO 8601 text or epoch seconds, not a boolean")
    elif isinstance(value, int | float):
        if not math.isfinite(value):
            raise PydanticCustomError("ts_type", "epoch seconds must be a finite number")
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise PydanticCustomError(
                "ts_range", f"{value:g} epoch seconds is out of range"
            ) from None
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "ts_format",
                f"{value[:64]!r} is not an ISO 8601 timestamp (e.g. 2026-11-28T06:00:01Z)",
            ) from None
    else:
        raise PydanticCustomError("ts_type", "give ISO 8601 text or epoch seconds")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def field_path(loc: tuple) -> str:
    """('samples', 3, 'power_w') -> 'samples[3].power_w'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


_TYPE_NAMES = {str: "text", bool: "a boolean", int: "a number", float: "a number"}


def error_details(exc: ValidationError) -> list[dict]:
    """One {"field", "message"} per problem, in payload order."""
    details = []
    for error in exc.errors(include_url=False):
        loc = (*error["loc"], *(error.get("ctx") or {}).get("loc", ()))
        message = error["msg"]
        if error["type"].endswith("_type") and "input" in error:
            got = _TYPE_NAMES.get(type(error["input"]), type(error["input"]).__name__)
            if error["input"] is None:
                got = "null"
            message = f"{message} (got {got})"
        details.append({"field": field_path(loc), "message": message})
    return details
