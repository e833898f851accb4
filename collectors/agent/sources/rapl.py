"""`rapl`: CPU package energy from the Linux powercap interface (Intel RAPL, AMD since 5.8).

Reads /sys/class/powercap/intel-rapl:N/energy_uj of each package domain, with wrap-around at
max_energy_range_uj. Since Linux 5.10 energy_uj is readable by root only; the agent then fails
at start with the fix instead of reporting zeros. GREENAI_RAPL_ROOT points the source at another
tree (tests, or a host /sys mounted elsewhere in a container).
"""

import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from collectors.agent.energy import MAX_GAP_S, counter_delta, split_interval
from collectors.agent.model import DeviceInfo, Sample
from collectors.agent.sources import Source, SourceError

log = logging.getLogger("greenai.agent")

DEFAULT_ROOT = Path("/sys/class/powercap")
_PACKAGE_DIR = re.compile(r"^intel-rapl:(\d+)$")
_UUID_NAMESPACE = uuid.UUID("0b6a9d8e-2c7f-4f0e-8a51-3d9e6c1f4b27")
# Without constraint_0_max_power_uw we assume this much to judge whether a counter may have
# wrapped more than once during a gap (then the gap cannot be measured).
ASSUMED_MAX_POWER_W = 500.0

PERMISSION_FIX = (
    "Since Linux 5.10 the RAPL energy counters are readable by root only. Run the agent as root, "
    "or grant read access: `sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj` (until "
    "reboot) or permanently with a udev rule in /etc/udev/rules.d/90-greenai-rapl.rules: "
    'ACTION=="add", SUBSYSTEM=="powercap", KERNEL=="intel-rapl:*", '
    'RUN+="/bin/chmod a+r /sys%p/energy_uj" (see docs/agent.md).'
)
NO_RAPL_FIX = (
    "RAPL needs an Intel CPU (Sandy Bridge or newer) or an AMD Zen CPU (Linux 5.8 or newer) and "
    "the kernel module intel_rapl_msr (`sudo modprobe intel_rapl_msr`); virtual machines and some "
    "containers do not expose it (mount the host's /sys and set GREENAI_RAPL_ROOT)."
)


@dataclass(frozen=True)
class PackageDomain:
    path: Path
    package: int
    name: str
    max_energy_range_uj: int
    max_power_w: float


def parse_int(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise SourceError(f"{what} is not an integer: {text.strip()!r}") from None


def is_package(directory_name: str, domain_name: str) -> int | None:
    """The package number of a top-level package domain (not psys, not core/uncore/dram)."""
    match = _PACKAGE_DIR.match(directory_name)
    if not match or not domain_name.startswith("package"):
        return None
    return int(match.group(1))


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except PermissionError:
        raise SourceError(f"cannot read {path}: permission denied. {PERMISSION_FIX}") from None
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None


def find_packages(root: Path) -> list[PackageDomain]:
    if not root.is_dir():
        raise SourceError(f"no RAPL: {root} does not exist. {NO_RAPL_FIX}")
    packages = []
    for directory in sorted(root.iterdir()):
        name_file = directory / "name"
        if not name_file.exists():
            continue
        package = is_package(directory.name, _read(name_file).strip())
        if package is None:
            continue
        max_range = parse_int(
            _read(directory / "max_energy_range_uj"), f"{directory}/max_energy_range_uj"
        )
        limit_file = directory / "constraint_0_max_power_uw"
        max_power_w = ASSUMED_MAX_POWER_W
        if limit_file.exists():
            max_power_w = max(parse_int(_read(limit_file), str(limit_file)) / 1e6, 1.0)
        packages.append(PackageDomain(directory, package, directory.name, max_range, max_power_w))
    if not packages:
        raise SourceError(f"no RAPL: {root} has no intel-rapl package domain. {NO_RAPL_FIX}")
    return packages


def cpu_model_name(cpuinfo_text: str) -> str:
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return "CPU package"


def read_boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


class RaplSource(Source):
    key = "rapl"

    def __init__(self, *, hostname: str, root: Path | None = None, clock=time.time):
        self.hostname = hostname
        self.root = root or Path(os.environ.get("GREENAI_RAPL_ROOT") or DEFAULT_ROOT)
        self.clock = clock
        self._packages: list[tuple[PackageDomain, DeviceInfo]] = []
        self._last: dict[str, tuple[int, float]] = {}  # uuid -> (energy_uj, ts)
        self._boot_id = read_boot_id()
        self.dropped_energy_j = 0.0
        self.unmeasured_gap_s = 0.0  # device-seconds a restart could not measure

    def open(self, state: dict | None = None) -> None:
        try:
            model = cpu_model_name(Path("/proc/cpuinfo").read_text())
        except OSError:
            model = "CPU package"
        for domain in find_packages(self.root):
            device = DeviceInfo(
                uuid=f"CPU-{uuid.uuid5(_UUID_NAMESPACE, f'{self.hostname}/{domain.name}')}",
                kind="cpu",
                index=domain.package,
                name=model,
            )
            self._packages.append((domain, device))
        now = self.clock()
        # Read every counter once now: a permission problem shows at start, not later.
        current = {device.uuid: self._energy_uj(domain) for domain, device in self._packages}
        saved = state or {}
        same_boot = saved.get("boot_id") == self._boot_id and self._boot_id
        for domain, device in self._packages:
            previous = saved.get("counters", {}).get(device.uuid) if same_boot else None
            if previous and self._gap_is_measurable(domain, now - previous[1]):
                self._last[device.uuid] = (int(previous[0]), float(previous[1]))
            else:
                if previous:
                    self.unmeasured_gap_s += now - previous[1]
                    log.warning(
                        "RAPL %s: the %.0f s the agent was stopped may span more than one "
                        "counter wrap; that time is not reported",
                        domain.name,
                        now - previous[1],
                    )
                self._last[device.uuid] = (current[device.uuid], now)

    @staticmethod
    def _gap_is_measurable(domain: PackageDomain, gap_s: float) -> bool:
        # The counter wraps every max_range / power seconds; past one wrap a gap is ambiguous.
        return 0 <= gap_s < domain.max_energy_range_uj / 1e6 / domain.max_power_w

    def _energy_uj(self, domain: PackageDomain) -> int:
        path = domain.path / "energy_uj"
        return parse_int(_read(path), str(path))

    def devices(self) -> list[DeviceInfo]:
        return [device for _, device in self._packages]

    def read(self) -> list[Sample]:
        samples = []
        for domain, device in self._packages:
            value = self._energy_uj(domain)
            now = self.clock()
            last_value, last_ts = self._last[device.uuid]
            duration = now - last_ts
            if duration <= 0:
                continue
            delta_uj, _ = counter_delta(last_value, value, wrap_at=domain.max_energy_range_uj)
            pieces, dropped = split_interval(now, duration, delta_uj / 1e6, max_total_s=MAX_GAP_S)
            self.dropped_energy_j += dropped
            for piece in pieces:
                samples.append(
                    Sample(
                        device=device,
                        ts=piece.end_ts,
                        duration_s=piece.duration_s,
                        energy_j=piece.energy_j,
                        power_w=piece.energy_j / piece.duration_s,
                    )
                )
            self._last[device.uuid] = (value, now)
        return samples

    def state(self) -> dict:
        return {
            "boot_id": self._boot_id,
            "counters": {uuid_text: list(value) for uuid_text, value in self._last.items()},
        }
