"""Measurement sources behind one small interface, and the parser of `--source` values.

Each source lives in its own module (nvml, rapl, sim, replay, prometheus, dcgm). `open()` fails
fast with a SourceError that says how to fix the problem; `read()` returns the samples since the
previous read. `state()` is a JSON-able snapshot saved atomically with each spooled batch, so
that after a restart (even SIGKILL) `open(state)` resumes exactly where the spooled data ends.
"""

from pathlib import Path
from urllib.parse import urlparse

from collectors.agent.model import DeviceInfo, Sample, WorkSample


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

    def state_for_hosts(self, hosts: frozenset[str] | None) -> dict:
        """The state to save with a batch when only these hosts' samples are spooled so far
        (None: all of them). Sources that read one host only have nothing to hold back."""
        return self.state()

    def spooled(self) -> None:
        """Every host's samples read so far are in the spool."""

    def devices(self) -> list[DeviceInfo]:
        return []

    def take_work(self) -> list[WorkSample]:
        """Serving work (requests, tokens) read since the last call; it goes with the batch of
        the agent's own host, and the source's state saved with that batch covers it."""
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
    if name in ("prometheus", "dcgm"):
        parsed = urlparse(argument)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            example = "http://prometheus:9090" if name == "prometheus" else "http://node:9400"
            raise ValueError(f"{name} needs an http(s) URL, like {name}:{example} (got {spec!r})")
        return name, argument
    raise ValueError(
        f"unknown source {spec!r}: use nvml, rapl, sim:N, replay:PATH, prometheus:URL or dcgm:URL"
    )


def create_source(
    spec: str,
    *,
    hostname: str,
    interval_s: float,
    push_every_s: float = 10.0,
    http=None,
    prometheus_selector: str = "",
) -> Source:
    """The source object for a validated spec (imports only what that source needs).

    The telemetry sources (prometheus, dcgm) poll once per push period; http holds their
    authentication and TLS options (collectors/agent/sources/httpget.py).
    """
    name, argument = parse_source_spec(spec)
    if name == "prometheus":
        from collectors.agent.sources.prometheus import PrometheusSource

        return PrometheusSource(
            argument,
            hostname=hostname,
            poll_every_s=push_every_s,
            http=http,
            selector=prometheus_selector,
        )
    if name == "dcgm":
        from collectors.agent.sources.dcgm import DcgmSource

        return DcgmSource(argument, poll_every_s=push_every_s, http=http)
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
