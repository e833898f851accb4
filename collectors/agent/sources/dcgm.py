"""`dcgm:URL`: GPUs read straight from an NVIDIA dcgm-exporter /metrics endpoint.

Each poll (once per push period) scrapes the page and takes the time halfway through the
request as the points' time. The energy of an interval is the counter's increase between two
scrapes (collectors/agent/sources/telemetry.py has the rules). A restarted agent resumes from
the positions saved with the last spooled batch: the first scrape after the restart covers the
time it was down in one interval (cut into pieces of at most an hour).
"""

import time
from urllib.parse import urlparse

from collectors.agent.sources import SourceError
from collectors.agent.sources.httpget import HttpGetter, HttpOptions
from collectors.agent.sources.telemetry import (
    GpuPoints,
    TelemetryError,
    TelemetrySource,
    group_by_gpu,
    parse_exposition,
)

ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


def metrics_url(url: str) -> str:
    """dcgm:http://node:9400 means its /metrics page."""
    parsed = urlparse(url)
    return url if parsed.path not in ("", "/") else url.rstrip("/") + "/metrics"


class DcgmSource(TelemetrySource):
    def __init__(
        self,
        url: str,
        *,
        poll_every_s: float,
        http: HttpOptions | None = None,
        clock=time.time,
    ):
        super().__init__(poll_every_s=poll_every_s, clock=clock)
        # Points are one poll apart here: more than three polls means the agent was down (a
        # failed poll or two is not), and which pod held the GPU meanwhile is unknown.
        self.max_attributed_gap_s = 3 * poll_every_s
        self.url = metrics_url(url)
        self.key = f"dcgm:{self.url}"
        # Without a Hostname label (dcgm-exporter started without one) the GPUs belong to the
        # host the exporter runs on.
        self.default_host = urlparse(self.url).hostname or ""
        self.getter = HttpGetter(http)
        self._pending = []

    def open(self, state: dict | None = None) -> None:
        self.restore(state or {})
        try:
            gpus = self.fetch()
        except SourceError as exc:
            raise SourceError(
                f"dcgm-exporter at {self.url} cannot be read ({exc}). Check the URL (port 9400 "
                "by default) and the --prometheus-* authentication options."
            ) from None
        if not gpus:
            raise SourceError(
                f"{self.url} shows no DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION or "
                "DCGM_FI_DEV_POWER_USAGE series with a UUID label: is it dcgm-exporter?"
            )
        # The first scrape is the baseline, and after a restart it also closes the gap.
        self._pending = self.samples_from(gpus)

    def read(self):
        samples, self._pending = self._pending, []
        return samples + super().read()

    def fetch(self) -> dict[str, GpuPoints]:
        body, ts = self.getter.timed_get(self.url, accept=ACCEPT, clock=self.clock)
        try:
            series = parse_exposition(body.decode("utf-8", "replace"), ts)
        except TelemetryError as exc:
            raise SourceError(f"{self.url}: {exc}") from None
        return group_by_gpu(series, self.default_host)
