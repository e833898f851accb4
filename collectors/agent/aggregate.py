"""Sending one sample per device per --sample-seconds from reads taken every --interval.

Pure bookkeeping, no I/O and no clock of its own: reads go in, whole samples come out. This is
where the number of rows falls tenfold at the defaults (1 s reads, 10 s samples: 8,640 instead
of 86,400 rows per GPU and day) without losing a joule:

- energy_j is the sum of the reads' energies (each a counter delta), so it is exact whatever the
  sample's length; duration_s is the sum of the reads' durations;
- power_w, util_pct and mem_used_mib are means weighted by each read's duration;
- each share list (tags, and any other list of objects carrying a "share") is averaged the same
  way: a project seen in half of the sample's time gets half its share. Each read's shares sum
  to at most 1, so the mean does too; shares are rounded down to 6 decimals to keep it so.

Samples end on multiples of sample_s in epoch time: a read belongs to the window (k*N, (k+1)*N]
its end falls in. A read is never split (that would turn an exact counter delta into a pro rata
guess), so a sample ends at its last read's end. A read that does not start where the pending
sample ends (a source restarted without its state) starts a new sample, so the intervals sent
still follow each other with no overlap. The partial samples are part of the state spooled with
each batch (`state()` / `restore()`), so a restart, even after SIGKILL, continues them.
"""

import dataclasses
import math

from collectors.agent.energy import MAX_SAMPLE_DURATION_S
from collectors.agent.model import DeviceInfo, Sample

SHARE_DECIMALS = 6
# Reads of a device are contiguous when one starts within this of where the previous ended.
CONTIGUOUS_S = 1e-3
# Float noise in read ends (0.1 * 300 = 30.000000000000004) must not push a read into the
# next window.
WINDOW_EPSILON_S = 1e-6
MEANS = ("power_w", "util_pct", "mem_used_mib")
_FIXED = {"device", "ts", "duration_s", "energy_j", *MEANS}


def window_of(end_ts: float, sample_s: float) -> int:
    """k such that end_ts lies in (k * sample_s, (k + 1) * sample_s]."""
    return math.ceil((end_ts - WINDOW_EPSILON_S) / sample_s) - 1


@dataclasses.dataclass
class Pending:
    """The reads of one device gathered for the sample being built."""

    device: DeviceInfo
    window: int
    end: float
    duration_s: float = 0.0
    energy_j: float | None = None
    # name -> [sum of value * duration, sum of duration] over the reads that have the value
    means: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    # name -> list of (object without its share, sum of share * duration)
    shares: dict[str, list[tuple[dict, float]]] = dataclasses.field(default_factory=dict)
    # other fields: the latest read's value
    latest: dict[str, object] = dataclasses.field(default_factory=dict)

    def add(self, read: Sample) -> None:
        self.end = float(read.ts)
        self.duration_s += read.duration_s
        energy = read.energy_j
        if energy is None and read.power_w is not None:
            energy = read.power_w * read.duration_s  # what the server would compute
        if energy is not None:
            self.energy_j = (self.energy_j or 0.0) + energy
        for name in MEANS:
            value = getattr(read, name)
            if value is not None:
                weighted = self.means.setdefault(name, [0.0, 0.0])
                weighted[0] += value * read.duration_s
                weighted[1] += read.duration_s
        for field in dataclasses.fields(read):
            if field.name in _FIXED:
                continue
            value = getattr(read, field.name)
            if _is_share_list(value):
                self._add_shares(field.name, value, read.duration_s)
            elif value is not None:
                self.latest[field.name] = value

    def _add_shares(self, name: str, items: list[dict], duration_s: float) -> None:
        totals = self.shares.setdefault(name, [])
        for item in items:
            identity = {key: value for key, value in item.items() if key != "share"}
            weighted = item["share"] * duration_s
            for position, (known, total) in enumerate(totals):
                if known == identity:
                    totals[position] = (known, total + weighted)
                    break
            else:
                totals.append((identity, weighted))

    def sample(self) -> Sample:
        values = {name: total / weight for name, (total, weight) in self.means.items() if weight}
        extra = dict(self.latest)
        scale = 10**SHARE_DECIMALS
        for name, totals in self.shares.items():
            if self.duration_s <= 0:
                continue
            items = []
            for identity, weighted in totals:
                # Round off float noise first (0.6 held for ten reads sums to 5.999999999999999),
                # then round down so that the shares still sum to at most 1.
                scaled = round(weighted / self.duration_s * scale, 3)
                share = min(math.floor(scaled) / scale, 1.0)
                if share > 0:
                    items.append({**identity, "share": share})
            extra[name] = items or None
        known = {field.name for field in dataclasses.fields(Sample)}
        return Sample(
            device=self.device,
            ts=self.end,
            duration_s=self.duration_s,
            energy_j=self.energy_j,
            **values,
            **{name: value for name, value in extra.items() if name in known},
        )

    def to_state(self) -> dict:
        return {
            "device": device_to_state(self.device),
            "window": self.window,
            "end": self.end,
            "duration_s": self.duration_s,
            "energy_j": self.energy_j,
            "means": self.means,
            "shares": {name: [list(pair) for pair in pairs] for name, pairs in self.shares.items()},
            "latest": self.latest,
        }

    @classmethod
    def from_state(cls, state: dict) -> "Pending":
        return cls(
            device=device_from_state(state["device"]),
            window=int(state["window"]),
            end=float(state["end"]),
            duration_s=float(state["duration_s"]),
            energy_j=state.get("energy_j"),
            means={name: list(pair) for name, pair in state.get("means", {}).items()},
            shares={
                name: [(dict(identity), float(total)) for identity, total in pairs]
                for name, pairs in state.get("shares", {}).items()
            },
            latest=dict(state.get("latest", {})),
        )


def _is_share_list(value) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and "share" in item for item in value)
    )


def device_to_state(device: DeviceInfo) -> dict:
    state = dataclasses.asdict(device)
    state["mig_slices"] = [device_to_state(mig_slice) for mig_slice in device.mig_slices]
    return state


def device_from_state(state: dict) -> DeviceInfo:
    known = {field.name for field in dataclasses.fields(DeviceInfo)}
    values = {name: value for name, value in state.items() if name in known}
    values["mig_slices"] = tuple(device_from_state(item) for item in state.get("mig_slices", ()))
    return DeviceInfo(**values)


class SampleAggregator:
    """Folds each device's reads into one sample per sample_s seconds."""

    def __init__(self, sample_s: float):
        self.sample_s = sample_s
        self._pending: dict[str, Pending] = {}

    def add(self, reads: list[Sample]) -> list[Sample]:
        """Take in reads (oldest first per device); return the samples they completed."""
        done: list[Sample] = []
        for read in reads:
            end = float(read.ts)
            window = window_of(end, self.sample_s)
            pending = self._pending.get(read.device.uuid)
            if pending is not None and not self._continues(pending, read, window):
                done.append(pending.sample())
                pending = None
            if pending is None:
                pending = self._pending[read.device.uuid] = Pending(read.device, window, end)
            pending.device = read.device
            pending.add(read)
        return done

    def _continues(self, pending: Pending, read: Sample, window: int) -> bool:
        start = float(read.ts) - read.duration_s
        return (
            window == pending.window
            and abs(start - pending.end) <= CONTIGUOUS_S
            and pending.duration_s + read.duration_s <= MAX_SAMPLE_DURATION_S + CONTIGUOUS_S
        )

    def flush_due(self, now: float) -> list[Sample]:
        """The samples whose window has ended by `now` (epoch seconds)."""
        due = [
            uuid
            for uuid, pending in self._pending.items()
            if (pending.window + 1) * self.sample_s <= now + WINDOW_EPSILON_S
        ]
        return [self._pending.pop(uuid).sample() for uuid in due]

    def flush_all(self) -> list[Sample]:
        """Every partial sample as it stands (shutdown, --once)."""
        samples = [pending.sample() for pending in self._pending.values()]
        self._pending.clear()
        return samples

    def state(self) -> dict:
        return {uuid: pending.to_state() for uuid, pending in self._pending.items()}

    def restore(self, state: dict | None) -> None:
        self._pending = {}
        for uuid, saved in (state or {}).items():
            try:
                self._pending[uuid] = Pending.from_state(saved)
            except (KeyError, TypeError, ValueError):
                continue  # a state written by another version: start that device afresh

    @property
    def pending_devices(self) -> int:
        return len(self._pending)
