"""The ingest payload (docs/architecture.md, 4.2) as strict pydantic models, and its error details.

Strict mode: a string is never coerced into a number, unknown fields are refused, NaN and
Infinity are refused. Every problem is reported with the path of the field it concerns
("samples[3].power_w"), so an agent author can fix the exact value.
"""

import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
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

from greenai_site.openapi import NO_CONTROL_CHARACTERS

MAX_POWER_W = 5000.0
MAX_DURATION_S = 3600.0
MAX_FUTURE = timedelta(minutes=10)
# No sample may end before this, back-fill permission or not (docs/ingest.md).
EARLIEST_TS = datetime(2000, 1, 1, tzinfo=UTC)
# Samples per batch; a larger batch is answered 413 (an agent sends at most a few thousand).
MAX_SAMPLES = 20_000
# Process tags per sample: a process is shared by a handful of projects at most.
MAX_TAGS = 16
# Shares are floats sent by agents; allow rounding noise when they sum to exactly one.
SHARE_SUM_TOLERANCE = 1e-6

_STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

# C0 (tab and newline included: no field of the payload is multi-line), DEL and C1.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(value: str) -> str:
    match = CONTROL_CHARACTERS.search(value)
    if match:
        raise PydanticCustomError(
            "control_character",
            f"control character U+{ord(match.group()):04X} at position {match.start()};"
            " send printable text",
        )
    return value


def escape_control(text: str) -> str:
    """Control characters as \\xNN escapes, for text echoed back or stored from a refusal."""
    return CONTROL_CHARACTERS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


_PRINTABLE_SCHEMA = Field(json_schema_extra={"pattern": NO_CONTROL_CHARACTERS})


def printable(**length):
    """Text of that length without control characters; the schema says so too, so that API
    clients (and fuzzers reading the OpenAPI document) know."""
    return Annotated[str, Field(**length), AfterValidator(_printable), _PRINTABLE_SCHEMA]


Text = printable(max_length=200)
DeviceUuid = printable(min_length=1, max_length=128)


class HostIn(BaseModel):
    model_config = _STRICT

    hostname: printable(min_length=1, max_length=255)
    agent_version: printable(max_length=50) = ""


class DeviceIn(BaseModel):
    model_config = _STRICT

    uuid: DeviceUuid
    kind: Literal["gpu", "cpu"] = "gpu"
    index: Annotated[int, Field(ge=0, le=10_000)] = 0
    name: Text = ""
    power_limit_w: Annotated[float, Field(ge=0, le=MAX_POWER_W)] | None = None
    is_mig: bool = False
    parent_uuid: printable(max_length=128) = ""
    # "simulated" for synthetic energy (the agent's sim source, the demo): its measurement
    # bounds differ from NVML's or RAPL's. Agents that predate it send nothing: measured.
    source: Literal["measured", "simulated"] = Field(
        "measured",
        description="Where the device's energy comes from: measured (NVML for a GPU, RAPL for "
        "a CPU package) or simulated; optional, default measured.",
    )


class TagIn(BaseModel):
    model_config = _STRICT

    project: printable(min_length=1, max_length=100)
    phase: printable(max_length=50) | None = None
    share: Annotated[float, Field(ge=0, le=1)]


Name = Annotated[str, Field(max_length=253)]


class JobIn(BaseModel):
    """A Slurm job or Kubernetes pod that used the device during the interval."""

    model_config = _STRICT

    id: Annotated[str, Field(max_length=100)] = ""
    user: Annotated[str, Field(max_length=100)] = ""
    account: Annotated[str, Field(max_length=100)] = ""
    partition: Annotated[str, Field(max_length=100)] = ""
    namespace: Name = ""
    pod: Name = ""
    container: Name = ""
    share: Annotated[float, Field(ge=0, le=1)] = 1.0

    @model_validator(mode="after")
    def _identified(self):
        if not self.id and not self.pod:
            raise PydanticCustomError(
                "job_unidentified", "a job needs an id (Slurm) or a pod (Kubernetes)"
            )
        return self


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
                "seconds; at most 10 minutes ahead of the server clock and within the "
                "raw-sample retention (collectors with the back-fill permission: from "
                "2000-01-01).",
            }
        ),
    ]
    duration_s: Annotated[float, Field(gt=0, le=MAX_DURATION_S)]
    energy_j: Annotated[float, Field(ge=0)] | None = None
    power_w: Annotated[float, Field(ge=0, le=MAX_POWER_W)] | None = None
    util_pct: Annotated[float, Field(ge=0, le=100)] | None = None
    mem_used_mib: Annotated[float, Field(ge=0)] | None = None
    tags: Annotated[list[TagIn], Field(max_length=MAX_TAGS)] | None = None
    job: Annotated[list[JobIn], Field(max_length=64)] | None = None

    @field_validator("ts", mode="before")
    @classmethod
    def _parse_ts(cls, value, info: ValidationInfo):
        ts = parse_timestamp(value)
        context = info.context or {}
        now = context.get("now") or datetime.now(UTC)
        if ts > now + MAX_FUTURE:
            server_now = now.replace(microsecond=0).isoformat()
            raise PydanticCustomError(
                "ts_in_future",
                f"{ts.isoformat()} is more than 10 minutes ahead of the server clock"
                f" ({server_now})",
            )
        earliest = max(context.get("earliest") or EARLIEST_TS, EARLIEST_TS)
        if ts < earliest:
            if earliest == EARLIEST_TS:
                why = "samples before 2000 are refused"
            else:
                why = (
                    "older than the raw-sample retention; back-filling needs a collector with"
                    " the back-fill permission"
                )
            raise PydanticCustomError(
                "ts_too_old",
                f"{ts.isoformat()} is before {earliest.replace(microsecond=0).isoformat()}: {why}",
            )
        return ts

    @field_validator("tags")
    @classmethod
    def _shares_sum_to_at_most_one(cls, tags):
        if tags and sum(tag.share for tag in tags) > 1 + SHARE_SUM_TOLERANCE:
            total = sum(tag.share for tag in tags)
            raise PydanticCustomError("share_sum", f"tag shares sum to {total:.6g}, above 1")
        return tags

    @field_validator("job")
    @classmethod
    def _job_shares_sum_to_at_most_one(cls, jobs):
        if jobs and sum(job.share for job in jobs) > 1 + SHARE_SUM_TOLERANCE:
            total = sum(job.share for job in jobs)
            raise PydanticCustomError("share_sum", f"job shares sum to {total:.6g}, above 1")
        return jobs

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


# Units of one work sample: a serving engine does far fewer than 1e12 requests or tokens in an
# hour; a larger value is a unit slip (docs/ingest.md, "Measured work").
MAX_WORK_UNITS = 1e12


class WorkIn(BaseModel):
    """Units of work a serving engine counted over the interval that ends at ts."""

    model_config = _STRICT

    ts: Annotated[datetime, WithJsonSchema(SampleIn.model_fields["ts"].metadata[0].json_schema)]
    duration_s: Annotated[float, Field(gt=0, le=MAX_DURATION_S)]
    kind: Literal["requests", "input_tokens", "output_tokens"]
    units: Annotated[float, Field(ge=0, le=MAX_WORK_UNITS)]
    model_name: printable(max_length=200) = ""
    tags: Annotated[list[TagIn], Field(max_length=MAX_TAGS)] | None = None
    job: Annotated[list[JobIn], Field(max_length=64)] | None = None

    _parse_ts = field_validator("ts", mode="before")(SampleIn._parse_ts.__func__)
    _shares = field_validator("tags")(SampleIn._shares_sum_to_at_most_one.__func__)
    _job_shares = field_validator("job")(SampleIn._job_shares_sum_to_at_most_one.__func__)


class IngestPayload(BaseModel):
    """One batch pushed by an agent (docs/architecture.md, 4.2)."""

    model_config = _STRICT

    batch_id: uuid.UUID = Field(strict=False, description="Idempotency key chosen by the agent.")
    host: HostIn
    devices: list[DeviceIn] = []
    samples: Annotated[list[SampleIn], Field(max_length=MAX_SAMPLES)] = []
    work: Annotated[list[WorkIn], Field(max_length=MAX_SAMPLES)] = []

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
    work_accepted: int | None = Field(
        default=None, description="Measured work records stored (batches with `work` only)."
    )
    work_unattributed_units: float | None = Field(
        default=None, description="Units of measured work no tag or attribution rule took."
    )


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
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset
        raise PydanticCustomError(
            "ts_range", f"{parsed.isoformat()} is out of range once converted to UTC"
        ) from None


def field_path(loc: tuple) -> str:
    """('samples', 3, 'power_w') -> 'samples[3].power_w'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            # An unknown key is echoed back: never with its control characters.
            part = escape_control(str(part))
            path += f".{part}" if path else part
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
