"""Pure energy arithmetic shared by the sources: counter deltas, power integration, long gaps.

Plain numbers in, plain numbers out; no I/O, so every rule here is tested with hand-checked
figures (tests/agent/test_energy.py).
"""

from dataclasses import dataclass

# The ingest API accepts intervals of at most one hour (docs/ingest.md).
MAX_SAMPLE_DURATION_S = 3600.0
# A gap longer than this (agent down for more than a week) is not back-filled in full: the
# energy before the bound cannot be placed in time well enough to be worth reporting. It is
# counted and logged instead of being silently lost.
MAX_GAP_S = 7 * 24 * 3600.0


def counter_delta(previous: int, current: int, wrap_at: int | None = None) -> tuple[int, bool]:
    """Increase of a monotonic energy counter, and whether it restarted.

    NVML's total-energy counter (mJ since the driver loaded) goes down only when the driver was
    reloaded: then the energy since the restart is the current value (a lower bound for the
    interval). RAPL's energy_uj wraps at max_energy_range_uj: pass wrap_at to add the range.
    """
    if current >= previous:
        return current - previous, False
    if wrap_at:
        return current + wrap_at - previous, False
    return current, True


@dataclass(frozen=True)
class Interval:
    end_ts: float
    duration_s: float
    energy_j: float


def split_interval(
    end_ts: float,
    duration_s: float,
    energy_j: float,
    *,
    max_chunk_s: float = MAX_SAMPLE_DURATION_S,
    max_total_s: float = MAX_GAP_S,
) -> tuple[list[Interval], float]:
    """Cut one long interval into pieces the server accepts, at the interval's mean power.

    Returns the pieces (oldest first, each at most max_chunk_s long) and the energy dropped
    because the interval was longer than max_total_s (only the most recent part is kept).
    """
    if duration_s <= 0:
        return [], 0.0
    power_w = energy_j / duration_s
    kept_s = min(duration_s, max_total_s)
    dropped_j = power_w * (duration_s - kept_s)
    start = end_ts - kept_s
    pieces = []
    cursor = start
    while cursor < end_ts - 1e-9:
        piece_end = min(cursor + max_chunk_s, end_ts)
        length = piece_end - cursor
        pieces.append(Interval(end_ts=piece_end, duration_s=length, energy_j=power_w * length))
        cursor = piece_end
    return pieces, dropped_j


class PowerIntegrator:
    """Trapezoid integral of polled power, for GPUs without an energy counter (pre-Volta).

    Polling several times per sampling interval matters: on older GPUs the power reading is
    instantaneous, so one reading per second would miss most of the variation.
    """

    def __init__(self):
        self._last: tuple[float, float] | None = None
        self._energy_j = 0.0
        self._since: float | None = None

    def add(self, t_s: float, power_w: float) -> None:
        if self._last is None:
            self._since = t_s
        else:
            last_t, last_p = self._last
            if t_s > last_t:
                self._energy_j += (last_p + power_w) / 2 * (t_s - last_t)
        self._last = (t_s, power_w)

    def take(self) -> tuple[float, float]:
        """(energy_j, duration_s) since the previous take, then start a new interval there."""
        if self._last is None or self._since is None:
            return 0.0, 0.0
        energy, duration = self._energy_j, self._last[0] - self._since
        self._energy_j = 0.0
        self._since = self._last[0]
        return energy, duration
