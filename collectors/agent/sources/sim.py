"""`sim:N`: N simulated GPUs with realistic, deterministic load for demos and tests.

Power is a smooth function of (device, time) whose integral has a closed form, so the energy of
any interval, a one-second tick or a gap after a restart, is exact and reproducible: the same
hostname and time always give the same uuids, samples and tags. Devices cycle through four
roles: training near the power limit, diurnal inference, idle (60-70 W) and a GPU shared by two
projects. The project slugs and phases are those of the demo organisation
(assessments/demo/history.py, `manage.py seed_demo`), so simulated data is attributable there.
"""

import math
import time
import uuid
from dataclasses import dataclass

from collectors.agent.energy import MAX_GAP_S, MAX_SAMPLE_DURATION_S
from collectors.agent.model import DeviceInfo, Sample
from collectors.agent.sources import Source

GPU_NAME = "NVIDIA H100 80GB HBM3"
POWER_LIMIT_W = 700.0
DAY_S = 86400.0
_UUID_NAMESPACE = uuid.UUID("6f1d3c52-8a43-4c1e-9d7b-2f0c5b9e7a10")


@dataclass(frozen=True)
class Wave:
    """amplitude_w * sin(2*pi*t/period_s + phase)."""

    amplitude_w: float
    period_s: float
    phase: float

    def value(self, t: float) -> float:
        return self.amplitude_w * math.sin(2 * math.pi * t / self.period_s + self.phase)

    def integral(self, start: float, end: float) -> float:
        omega = 2 * math.pi / self.period_s
        return (
            -self.amplitude_w
            / omega
            * (math.cos(omega * end + self.phase) - math.cos(omega * start + self.phase))
        )


@dataclass(frozen=True)
class Role:
    name: str
    base_w: float
    waves: tuple[Wave, ...]
    tags: tuple[dict, ...]
    util_pct: float  # at base load; inference scales with the diurnal wave
    mem_used_mib: float


def diurnal_wave(amplitude_w: float) -> Wave:
    # Peaks at 14:00 UTC, lowest at 02:00 UTC: office-hours inference traffic.
    return Wave(amplitude_w, DAY_S, -2 * math.pi * 8 / 24)


def role_for(index: int, phase: float) -> Role:
    kind = index % 4
    if kind == 0:
        return Role(
            "training",
            640.0,
            (Wave(30.0, 45.0, phase), Wave(15.0, 1800.0, phase / 2)),
            ({"project": "llm-finetune", "phase": "fine_tuning", "share": 1.0},),
            97.0,
            72_000.0,
        )
    if kind == 1:
        return Role(
            "inference",
            290.0,
            (diurnal_wave(170.0), Wave(20.0, 300.0, phase)),
            ({"project": "chat-inference", "phase": "inference", "share": 1.0},),
            45.0,
            30_000.0,
        )
    if kind == 2:
        return Role("idle", 65.0, (Wave(4.0, 600.0, phase),), (), 0.0, 0.0)
    return Role(
        "shared",
        420.0,
        (Wave(60.0, 120.0, phase), Wave(25.0, 3600.0, phase)),
        (
            {"project": "vision-training", "phase": "training", "share": 0.6},
            {"project": "model-eval", "phase": "evaluation", "share": 0.4},
        ),
        70.0,
        50_000.0,
    )


def device_uuid(hostname: str, index: int) -> str:
    return f"GPU-{uuid.uuid5(_UUID_NAMESPACE, f'{hostname}/{index}')}"


def power_w(role: Role, t: float) -> float:
    return role.base_w + sum(wave.value(t) for wave in role.waves)


def energy_j(role: Role, start: float, end: float) -> float:
    return role.base_w * (end - start) + sum(wave.integral(start, end) for wave in role.waves)


def utilisation_pct(role: Role, t: float) -> float:
    if role.name == "inference":
        load = (power_w(role, t) - 100.0) / (POWER_LIMIT_W - 100.0)
        return round(max(0.0, min(100.0, 100.0 * load)), 1)
    return role.util_pct


def interval_samples(
    device: DeviceInfo, role: Role, start: float, end: float
) -> tuple[list[Sample], float]:
    """Samples covering [start, end], cut into pieces the server accepts; and dropped joules."""
    dropped = 0.0
    if end - start > MAX_GAP_S:
        dropped = energy_j(role, start, end - MAX_GAP_S)
        start = end - MAX_GAP_S
    samples = []
    cursor = start
    while cursor < end - 1e-9:
        piece_end = min(cursor + MAX_SAMPLE_DURATION_S, end)
        energy = energy_j(role, cursor, piece_end)
        duration = piece_end - cursor
        samples.append(
            Sample(
                device=device,
                ts=piece_end,
                duration_s=duration,
                energy_j=energy,
                power_w=energy / duration,
                util_pct=utilisation_pct(role, piece_end),
                mem_used_mib=role.mem_used_mib,
                tags=[dict(tag) for tag in role.tags] or None,
            )
        )
        cursor = piece_end
    return samples, dropped


class SimSource(Source):
    key = "sim"

    def __init__(self, *, count: int, hostname: str, interval_s: float, clock=time.time):
        self.count = count
        self.hostname = hostname
        self.interval_s = interval_s
        self.clock = clock
        self._devices: list[tuple[DeviceInfo, Role]] = []
        self._last_end: dict[str, float] = {}
        self.dropped_energy_j = 0.0

    def open(self, state: dict | None = None) -> None:
        for index in range(self.count):
            uuid_text = device_uuid(self.hostname, index)
            phase = (uuid.UUID(uuid_text[4:]).int % 6283) / 1000.0
            device = DeviceInfo(
                uuid=uuid_text,
                kind="gpu",
                index=index,
                name=GPU_NAME,
                power_limit_w=POWER_LIMIT_W,
                simulated=True,
            )
            self._devices.append((device, role_for(index, phase)))
        saved = (state or {}).get("last_end", {})
        known = {device.uuid for device, _ in self._devices}
        self._last_end = {uuid_text: end for uuid_text, end in saved.items() if uuid_text in known}

    def devices(self) -> list[DeviceInfo]:
        return [device for device, _ in self._devices]

    def _slot_end(self) -> float:
        # Interval ends fall on multiples of the interval: the same time gives the same sample.
        return math.floor(self.clock() / self.interval_s) * self.interval_s

    def read(self) -> list[Sample]:
        end = self._slot_end()
        samples = []
        for device, role in self._devices:
            start = self._last_end.get(device.uuid, end - self.interval_s)
            if end <= start:
                continue
            pieces, dropped = interval_samples(device, role, start, end)
            samples.extend(pieces)
            self.dropped_energy_j += dropped
            self._last_end[device.uuid] = end
        return samples

    def state(self) -> dict:
        return {"last_end": dict(self._last_end)}
