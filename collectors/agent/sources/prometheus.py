"""`prometheus:URL`: every GPU that a Prometheus server scrapes from NVIDIA's dcgm-exporter.

Each poll (once per push period, not per GPU) asks Prometheus' HTTP API for the raw points of
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION and DCGM_FI_DEV_POWER_USAGE since the previous poll, as a
range selector (`metric[window]` at the window's end), plus the mean GPU utilisation and
framebuffer use, and the raw points of vLLM's request and token counters (serving work, sent
in the batch's `work` list): five queries whatever the number of GPUs and pods. Raw points
carry the scrape's own timestamps, so the intervals are those the counters really cover.

The read cursor (the end of the last window) and each GPU's position are saved with every
spooled batch. After a restart the next window starts at the oldest of them, so the time the
agent was down is recovered from what Prometheus still holds, in windows of at most 15 minutes,
up to 16 of them per read, and reads follow each other without waiting until the agent has
caught up. Each window
starts LAG_S before the previous end, because a scrape still in flight at the previous query
lands in the database with its earlier start time; points already counted are skipped by
position.
"""

import json
import logging
import math
import time

from collectors.agent.energy import MAX_GAP_S
from collectors.agent.sources import SourceError
from collectors.agent.sources.httpget import HttpGetter, HttpOptions
from collectors.agent.sources.telemetry import (
    ENERGY,
    FB_USED,
    POWER,
    UTIL,
    VLLM_COUNTERS,
    GpuPoints,
    TelemetryError,
    TelemetrySource,
    group_by_gpu,
    parse_query_result,
)

log = logging.getLogger("greenai.agent")

LAG_S = 60.0
# A poll's window while catching up. Its answer holds every GPU's raw points of the window:
# for 1,000 GPUs scraped every 15 s, 15 minutes is about 3 MB of JSON per metric.
MAX_WINDOW_S = 900.0
# Windows one read goes through while catching up (4 hours), so that an agent run from cron
# with --once keeps up with an hourly schedule; a longer gap continues at the next read.
MAX_WINDOWS_PER_READ = 16


class PrometheusSource(TelemetrySource):
    def __init__(
        self,
        url: str,
        *,
        hostname: str,
        poll_every_s: float,
        http: HttpOptions | None = None,
        selector: str = "",
        clock=time.time,
    ):
        super().__init__(poll_every_s=poll_every_s, clock=clock)
        self.url = url.rstrip("/")
        self.key = f"prometheus:{self.url}"
        self.hostname = hostname
        self.selector = selector.strip()
        self.getter = HttpGetter(http)
        self.cursor: float | None = None
        self.committed_cursor: float | None = None
        self._behind = False
        self.work_host = hostname

    def open(self, state: dict | None = None) -> None:
        state = state or {}
        self.restore(state)
        now = self.clock()
        cursor = state.get("cursor")
        if isinstance(cursor, int | float) and math.isfinite(cursor):
            self.cursor = float(cursor)
        else:
            self.cursor = now - self.poll_every_s
        if self.positions:
            self.cursor = min(self.cursor, min(p.ts for p in self.positions.values()))
        if self.work_positions:
            self.cursor = min(self.cursor, min(p[0] for p in self.work_positions.values()))
        self.cursor = max(self.cursor, now - MAX_GAP_S)
        self.committed_cursor = self.cursor
        try:
            counts = [self._query(f"count({m}{self._matchers()})", now, m) for m in (ENERGY, POWER)]
        except SourceError as exc:
            raise SourceError(
                f"Prometheus at {self.url} cannot be queried ({exc}). Check the URL (the "
                "server's base URL, without /api/v1) and the --prometheus-* authentication "
                "options."
            ) from None
        if not any(counts):
            log.warning(
                "Prometheus at %s holds no %s or %s series%s yet: check that it scrapes "
                "dcgm-exporter",
                self.url,
                ENERGY,
                POWER,
                f" matching {{{self.selector}}}" if self.selector else "",
            )

    def _matchers(self) -> str:
        return f"{{{self.selector}}}" if self.selector else ""

    def _query(self, query: str, at: float, metric: str | None) -> list:
        body = self.getter.get(
            f"{self.url}/api/v1/query",
            {"query": query, "time": f"{at:.3f}"},
            accept="application/json",
        )
        try:
            answer = json.loads(body)
        except ValueError:
            raise SourceError(f"the answer of {self.url} is not JSON: is it Prometheus?") from None
        try:
            return parse_query_result(answer, metric)
        except TelemetryError as exc:
            raise SourceError(f"Prometheus at {self.url}: {exc}") from None

    def fetch(self) -> dict[str, GpuPoints]:
        now = self.clock()
        start = self.cursor - LAG_S
        end = min(now, self.cursor + MAX_WINDOW_S)
        if end <= self.cursor:
            return {}
        window = f"{math.ceil((end - start) * 1000)}ms"
        matchers = self._matchers()
        series = []
        for metric in (ENERGY, POWER):
            series += self._query(f"{metric}{matchers}[{window}]", end, metric)
        for metric in (UTIL, FB_USED):
            series += self._query(f"avg_over_time({metric}{matchers}[{window}])", end, metric)
        # Serving engines (vLLM) are other scrape targets: the GPU selector does not apply.
        names = "|".join(VLLM_COUNTERS)
        self.work_from(self._query(f'{{__name__=~"{names}"}}[{window}]', end, None))
        self.cursor = end
        self._behind = end < now - 1.0
        if self._behind:
            self._next_poll = 0.0  # still catching up: the next window at the next read
        return group_by_gpu(series, self.hostname)

    def read(self):
        samples = super().read()
        windows = 1
        while self._behind and windows < MAX_WINDOWS_PER_READ:
            # Each window's answer is let go before the next: memory stays one window's.
            try:
                gpus = self.fetch()
            except SourceError as exc:
                # The windows read so far are returned: their positions have moved on already.
                log.warning("catching up from Prometheus paused: %s", exc)
                break
            samples += self.samples_from(gpus)
            windows += 1
        return samples

    def state_for_hosts(self, hosts: frozenset[str] | None) -> dict:
        state = self._positions_state(hosts)
        state["cursor"] = self.cursor if hosts is None else self.committed_cursor
        return state

    def spooled(self) -> None:
        super().spooled()
        self.committed_cursor = self.cursor
