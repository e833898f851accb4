"""The two values every source produces: the devices it measures and their interval samples."""

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class DeviceInfo:
    """A measured device as the ingest API declares it (`devices`, docs/architecture.md, 4.2)."""

    uuid: str
    kind: str = "gpu"  # "gpu" or "cpu"
    index: int = 0
    name: str = ""
    power_limit_w: float | None = None
    # A MIG slice is declared with its parent GPU; it has no samples of its own because NVML
    # measures power and energy only for the whole GPU. Its processes are attributed a share of
    # the parent's samples (see sources/attribution.py).
    parent_uuid: str = ""
    mig_slices: tuple["DeviceInfo", ...] = ()
    # The host the device belongs to when a source reads other machines' GPUs (prometheus,
    # dcgm); empty means the agent's own --hostname. Not sent as a device field: each host's
    # samples go in a batch of their own.
    host: str = ""
    # True for synthetic energy (the sim source): sent as the device's "source".
    simulated: bool = False

    def to_payload(self) -> dict:
        payload = {"uuid": self.uuid, "kind": self.kind, "index": self.index, "name": self.name}
        if self.power_limit_w is not None:
            payload["power_limit_w"] = self.power_limit_w
        if self.parent_uuid:
            payload["is_mig"] = True
            payload["parent_uuid"] = self.parent_uuid
        if self.simulated:
            payload["source"] = "simulated"
        return payload


@dataclass
class Sample:
    """Energy of one device over the interval of duration_s seconds that ends at ts."""

    device: DeviceInfo
    ts: float | str  # epoch seconds (live sources) or the replay file's own text
    duration_s: float
    energy_j: float | None
    power_w: float | None = None
    util_pct: float | None = None
    mem_used_mib: float | None = None
    tags: list[dict] | None = field(default=None)
    # Jobs that held the device (Slurm jobs, Kubernetes pods), each with its share:
    # {"id", "user", "account", "partition", "namespace", "pod", "container", "share"}.
    job: list[dict] | None = field(default=None)

    def to_payload(self) -> dict:
        payload = {
            "device": self.device.uuid,
            "ts": format_ts(self.ts) if isinstance(self.ts, int | float) else self.ts,
            "duration_s": round(self.duration_s, 6),
        }
        for name in ("energy_j", "power_w", "util_pct", "mem_used_mib"):
            value = getattr(self, name)
            if value is not None:
                payload[name] = round(value, 6) if isinstance(value, float) else value
        if self.tags:
            payload["tags"] = self.tags
        if self.job:
            payload["job"] = self.job
        return payload


def format_ts(epoch_s: float) -> str:
    """ISO 8601 UTC with microseconds, the resolution the server stores."""
    text = datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")


def build_payload(
    *,
    batch_id: str,
    hostname: str,
    agent_version: str,
    samples: list[Sample],
    work: list["WorkSample"] | None = None,
) -> dict:
    """The ingest request body for these samples (and measured work), declaring each device
    they name once."""
    devices: dict[str, DeviceInfo] = {}
    for sample in samples:
        if sample.device.uuid not in devices:
            devices[sample.device.uuid] = sample.device
            for mig_slice in sample.device.mig_slices:
                devices.setdefault(mig_slice.uuid, mig_slice)
    payload = {
        "batch_id": batch_id,
        "host": {"hostname": hostname, "agent_version": agent_version},
        "devices": [device.to_payload() for device in devices.values()],
        "samples": [sample.to_payload() for sample in samples],
    }
    if work:
        payload["work"] = [item.to_payload() for item in work]
    return payload


@dataclass
class WorkSample:
    """Units of work a serving engine counted over the interval of duration_s ending at ts
    (requests, input_tokens or output_tokens), with the pod that served them."""

    ts: float
    duration_s: float
    kind: str
    units: float
    model_name: str = ""
    job: list[dict] | None = field(default=None)

    def to_payload(self) -> dict:
        payload = {
            "ts": format_ts(self.ts),
            "duration_s": round(self.duration_s, 6),
            "kind": self.kind,
            "units": round(self.units, 6),
        }
        if self.model_name:
            payload["model_name"] = self.model_name
        if self.job:
            payload["job"] = self.job
        return payload
