"""`replay:PATH`: re-play a recorded JSON Lines trace through the normal spool and push path.

One sample per line, in the form of the ingest API (docs/ingest.md) plus the device's "name",
"index" and "kind" (default "gpu"), e.g.
  {"device": "GPU-5a1c...", "name": "NVIDIA H100 80GB HBM3", "index": 0,
   "ts": "2026-11-28T06:00:01Z", "duration_s": 1.0, "energy_j": 312.4}
Timestamps are kept as written. The byte offset of the last spooled line is saved with each
batch, so a restarted agent resumes after the last line it spooled, never sending one twice.
"""

import json
from pathlib import Path

from collectors.agent.model import DeviceInfo, Sample
from collectors.agent.sources import Source, SourceError

BATCH_SAMPLES = 1000
DEVICE_FIELDS = {"name", "index", "kind", "power_limit_w"}
SAMPLE_FIELDS = {
    "device",
    "ts",
    "duration_s",
    "energy_j",
    "power_w",
    "util_pct",
    "mem_used_mib",
    "tags",
}


class ReplayLineError(ValueError):
    pass


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_line(text: str, devices: dict[str, DeviceInfo]) -> Sample:
    """One trace line as a Sample. Checks structure only: the server judges the values."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReplayLineError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ReplayLineError("not a JSON object")
    unknown = sorted(set(record) - SAMPLE_FIELDS - DEVICE_FIELDS)
    if unknown:
        raise ReplayLineError(f"unknown field(s) {', '.join(unknown)}")
    uuid_text = record.get("device")
    if not isinstance(uuid_text, str) or not uuid_text:
        raise ReplayLineError("'device' must be the device uuid (a string)")
    ts = record.get("ts")
    if not isinstance(ts, str) and not _is_number(ts):
        raise ReplayLineError("'ts' must be an ISO 8601 time or epoch seconds")
    if not _is_number(record.get("duration_s")):
        raise ReplayLineError("'duration_s' must be a number")
    index = record.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool):
        raise ReplayLineError("'index' must be an integer")
    device = DeviceInfo(
        uuid=uuid_text,
        kind=record.get("kind", "gpu"),
        index=index,
        name=record.get("name", ""),
        power_limit_w=record.get("power_limit_w"),
    )
    # The first line that names a device defines it for the batch.
    device = devices.setdefault(uuid_text, device)
    return Sample(
        device=device,
        ts=ts,
        duration_s=record["duration_s"],
        energy_j=record.get("energy_j"),
        power_w=record.get("power_w"),
        util_pct=record.get("util_pct"),
        mem_used_mib=record.get("mem_used_mib"),
        tags=record.get("tags"),
    )


class ReplaySource(Source):
    key = "replay"
    finite = True

    def __init__(self, path: Path, *, batch_samples: int = BATCH_SAMPLES):
        self.path = path
        self.batch_samples = batch_samples
        self._file = None
        self._offset = 0
        self._line = 0
        self._exhausted = False
        self._devices: dict[str, DeviceInfo] = {}
        self.invalid_lines: list[tuple[int, str]] = []

    def open(self, state: dict | None = None) -> None:
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 - open until close()
        except OSError as exc:
            raise SourceError(f"cannot read replay file {self.path}: {exc.strerror}") from None
        saved = state or {}
        size = self.path.stat().st_size
        if saved.get("path") == str(self.path.resolve()) and saved.get("offset", 0) <= size:
            self._offset = int(saved["offset"])
            self._line = int(saved.get("line", 0))
            self._file.seek(self._offset)

    def read(self) -> list[Sample]:
        samples: list[Sample] = []
        while len(samples) < self.batch_samples:
            raw = self._file.readline()
            if not raw:
                self._exhausted = True
                break
            self._offset += len(raw)
            self._line += 1
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                samples.append(parse_line(text, self._devices))
            except ReplayLineError as exc:
                self.invalid_lines.append((self._line, str(exc)))
        return samples

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def state(self) -> dict:
        return {"path": str(self.path.resolve()), "offset": self._offset, "line": self._line}

    def close(self) -> None:
        if self._file:
            self._file.close()
