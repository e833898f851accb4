"""Measurement sources behind one small interface, and the parser of `--source` values.

Each source lives in its own module (nvml, rapl, sim, replay). `open()` fails fast with a
SourceError that says how to fix the problem; `read()` returns the samples since the previous
read. `state()` is a JSON-able snapshot saved atomically with each spooled batch, so that after a
restart (even SIGKILL) `open(state)` resumes exactly where the spooled data ends.
"""

from pathlib import Path

from collectors.agent.model import DeviceInfo, Sample


class SourceError(Exception):
    """A source cannot run; the message names the cause and the fix."""


class Source:
    key = "source"  # stable name used for metrics and for the saved state
    finite = False  # True for a source that ends (replay)

    def open(self, state: dict | None = None) -> None:
        raise NotImplementedError

    def read(self) -> list[Sample]:
        raise NotImplementedError

    def state(self) -> dict:
        return {}

    def devices(self) -> list[DeviceInfo]:
        return []

    @property
    def exhausted(self) -> bool:
        return False

    def close(self) -> None:
        pass


def parse_source_spec(spec: str) -> tuple[str, str | None]:
    """("nvml", None), ("sim", "8"), ("replay", "/path"); ValueError names what is wrong."""
    spec = spec.strip()
    name, _, argument = spec.partition(":")
    if name in ("nvml", "rapl"):
        if argument:
            raise ValueError(f"source {name!r} takes no argument (got {spec!r})")
        return name, None
    if name == "sim":
        if not argument.isdigit() or not 1 <= int(argument) <= 64:
            raise ValueError(f"sim needs a GPU count from 1 to 64, like sim:4 (got {spec!r})")
        return name, argument
    if name == "replay":
        if not argument:
            raise ValueError("replay needs a file, like replay:/path/to/trace.jsonl")
        return name, argument
    raise ValueError(f"unknown source {spec!r}: use nvml, rapl, sim:N or replay:PATH")


def create_source(spec: str, *, hostname: str, interval_s: float) -> Source:
    """The source object for a validated spec (imports only what that source needs)."""
    name, argument = parse_source_spec(spec)
    if name == "nvml":
        from collectors.agent.sources.nvml import NvmlSource

        return NvmlSource(interval_s=interval_s)
    if name == "rapl":
        from collectors.agent.sources.rapl import RaplSource

        return RaplSource(hostname=hostname)
    if name == "sim":
        from collectors.agent.sources.sim import SimSource

        return SimSource(count=int(argument), hostname=hostname, interval_s=interval_s)
    from collectors.agent.sources.replay import ReplaySource

    return ReplaySource(Path(argument))
