"""What the fleet telemetry sources (prometheus, dcgm) share, without their I/O: dcgm-exporter's
series in, GPU interval samples out, and each GPU's read position. Every rule is tested with
plain numbers (tests/agent/test_telemetry.py).

dcgm-exporter publishes one series per GPU and metric, labelled
  gpu="0", UUID="GPU-...", pci_bus_id="...", device="nvidia0", modelName="NVIDIA H100 80GB HBM3",
  Hostname="gpu-node-01", DCGM_FI_DRIVER_VERSION="...",
and, where its Kubernetes mapping finds a pod holding the GPU, container=, namespace=, pod=.
A GPU shared by several pods (time-slicing) or cut into MIG instances appears in several series
with the same UUID; the energy counter is the whole GPU's in each of them.

Energy comes from DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION (mJ since the driver loaded) as the
difference between successive values, with the reset rule of collectors/agent/energy.py; a GPU
without that counter gets the trapezoid integral of DCGM_FI_DEV_POWER_USAGE (W). Successive
intervals held by the same jobs are merged into one sample.
"""

import json
import logging
import math
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from collectors.agent.energy import MAX_GAP_S, counter_delta, split_interval
from collectors.agent.model import DeviceInfo, Sample, WorkSample
from collectors.agent.sources import Source
from collectors.agent.sources.attribution import Job, merge_jobs

log = logging.getLogger("greenai.agent")

ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
POWER = "DCGM_FI_DEV_POWER_USAGE"
UTIL = "DCGM_FI_DEV_GPU_UTIL"
FB_USED = "DCGM_FI_DEV_FB_USED"
POWER_LIMIT = "DCGM_FI_DEV_POWER_MGMT_LIMIT"

KIND_ENERGY = "energy"
KIND_POWER = "power"

# Label names dcgm-exporter gives the pod holding a GPU. With honor_labels: false (the default
# of most Kubernetes scrape configurations) Prometheus renames them to exported_<name>, and the
# plain names then hold its own target labels: the exporter's pod, which holds no GPU.
POD_LABELS = ("namespace", "pod", "container")


class TelemetryError(ValueError):
    """The exporter's or Prometheus' answer cannot be used; the message says why."""


@dataclass(frozen=True)
class Series:
    """One metric series: its labels and its (epoch seconds, value) points, oldest first."""

    metric: str
    labels: dict[str, str]
    points: list[tuple[float, float]]


@dataclass(frozen=True)
class GpuIdentity:
    uuid: str
    host: str
    index: int
    model: str


def gpu_identity(labels: dict[str, str], default_host: str) -> GpuIdentity | None:
    """The GPU a series belongs to, or None for a series without a UUID label.

    The host is dcgm-exporter's Hostname label, else the host part of Prometheus' instance
    label, else default_host.
    """
    uuid = labels.get("UUID", "").strip()
    if not uuid:
        return None
    instance = labels.get("instance", "").strip()
    instance_host = instance.rsplit(":", 1)[0].strip("[]") if instance else ""
    host = labels.get("Hostname", "").strip() or instance_host or default_host
    try:
        index = int(labels.get("gpu", "0"))
    except ValueError:
        index = 0
    return GpuIdentity(uuid=uuid, host=host, index=index, model=labels.get("modelName", ""))


def pod_job(labels: dict[str, str], renamed: bool = False) -> Job | None:
    """The Kubernetes pod a series names as holding its GPU, as a job; None without a pod.

    renamed: Prometheus moved the exporter's pod labels to exported_<name> for this target.
    """
    renamed = renamed or "exported_pod" in labels

    def label(name: str) -> str:
        if renamed and name != "container":
            return (labels.get(f"exported_{name}") or "").strip()
        # dcgm-exporter names a container with every pod: a plain container label beside a
        # renamed pod did not clash with a target label, so it is the workload's.
        return (labels.get(f"exported_{name}") or labels.get(name) or "").strip()

    namespace, pod, container = (label(name) for name in POD_LABELS)
    if not pod:
        return None
    job = [("id", f"{namespace}/{pod}" if namespace else pod)]
    if namespace:
        job.append(("namespace", namespace))
    job.append(("pod", pod))
    if container:
        job.append(("container", container))
    return tuple(job)


# --- parsing ---------------------------------------------------------------------------------


def parse_exposition(text: str, ts: float) -> list[Series]:
    """A /metrics page in Prometheus' text format: one point at ts per series."""
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        raise TelemetryError(f"not Prometheus text exposition format: {exc}") from None
    series = []
    for family in families:
        for sample in family.samples:
            # The parser names a counter's samples <name>_total; dcgm-exporter's do not end so.
            name = family.name if family.type in ("counter", "gauge", "unknown") else sample.name
            value = float(sample.value)
            if math.isfinite(value):
                series.append(Series(name, dict(sample.labels), [(ts, value)]))
    return series


def parse_query_result(body: dict, metric: str | None) -> list[Series]:
    """Series of a Prometheus HTTP API answer (vector or matrix), named metric (None: each
    by its own __name__, for a query on several metrics)."""
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        raise TelemetryError(f"Prometheus query failed: {error or 'no success status'}")
    data = body.get("data") or {}
    kind = data.get("resultType")
    series = []
    for item in data.get("result") or []:
        raw_labels = item.get("metric") or {}
        labels = {k: v for k, v in raw_labels.items() if k != "__name__"}
        if kind == "matrix":
            raw_points = item.get("values") or []
        elif kind == "vector":
            raw_points = [item.get("value")]
        else:
            raise TelemetryError(f"unexpected Prometheus result type {kind!r}")
        points = []
        for point in raw_points:
            try:
                ts, value = float(point[0]), float(point[1])
            except (TypeError, ValueError, IndexError):
                raise TelemetryError(f"malformed Prometheus point {point!r}") from None
            if math.isfinite(value):
                points.append((ts, value))
        series.append(Series(metric or raw_labels.get("__name__", ""), labels, points))
    return series


# --- from series to GPU readings ---------------------------------------------------------------


@dataclass
class GpuPoints:
    """Everything one read saw of one GPU: points of one kind with the jobs at each point."""

    identity: GpuIdentity
    kind: str
    points: dict[float, tuple[float, frozenset]] = field(default_factory=dict)
    util_pct: float | None = None
    mem_used_mib: float | None = None
    power_limit_w: float | None = None

    def add(self, ts: float, value: float, job: Job | None) -> None:
        known = self.points.get(ts)
        if known is None:
            self.points[ts] = (value, frozenset((job,)) if job else frozenset())
            return
        # Series of one GPU (several pods or MIG instances) repeat the GPU's own value.
        jobs = known[1] | {job} if job else known[1]
        self.points[ts] = (max(known[0], value), jobs)


def group_by_gpu(series: list[Series], default_host: str) -> dict[str, GpuPoints]:
    """GPU uuid -> its energy points (else its power points), util, memory and power limit."""
    gpus: dict[str, GpuPoints] = {}
    # A target one of whose GPUs shows exported_pod has all its pod labels renamed: on its
    # GPUs without exported_pod, the plain pod labels are the exporter's own.
    renamed = {item.labels.get("instance") for item in series if "exported_pod" in item.labels}
    for kind, metric in ((KIND_ENERGY, ENERGY), (KIND_POWER, POWER)):
        for item in series:
            if item.metric != metric:
                continue
            identity = gpu_identity(item.labels, default_host)
            if identity is None:
                continue
            gpu = gpus.setdefault(identity.uuid, GpuPoints(identity, kind))
            if gpu.kind != kind:
                continue  # this GPU has an energy counter: its power is not needed
            job = pod_job(item.labels, item.labels.get("instance") in renamed)
            for ts, value in item.points:
                gpu.add(ts, value, job)
    extras = {UTIL: "util_pct", FB_USED: "mem_used_mib", POWER_LIMIT: "power_limit_w"}
    for item in series:
        attribute = extras.get(item.metric)
        identity = gpu_identity(item.labels, default_host) if attribute else None
        if identity and identity.uuid in gpus and item.points:
            setattr(gpus[identity.uuid], attribute, item.points[-1][1])
    return gpus


# --- intervals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """Where a GPU was last read: the time and value (mJ counter or W) of its newest point."""

    ts: float
    value: float
    kind: str

    def to_state(self) -> list:
        return [self.ts, self.value, self.kind]

    @classmethod
    def from_state(cls, raw) -> "Position | None":
        try:
            ts, value, kind = float(raw[0]), float(raw[1]), str(raw[2])
        except (TypeError, ValueError, IndexError):
            return None
        if kind not in (KIND_ENERGY, KIND_POWER) or not math.isfinite(ts + value):
            return None
        return cls(ts, value, kind)


@dataclass(frozen=True)
class Run:
    """Consecutive intervals of one GPU held by the same jobs."""

    end_ts: float
    duration_s: float
    energy_j: float
    jobs: list[dict] | None


def advance(
    position: Position | None, gpu: GpuPoints, *, max_attributed_gap_s: float
) -> tuple[list[Run], Position | None, int]:
    """(runs, new position, counter resets) for the points newer than position.

    Without a position (a GPU seen for the first time) the first point is the baseline. An
    interval longer than max_attributed_gap_s (the series was missing) still counts its energy
    but no jobs: who held the GPU meanwhile is unknown.
    """
    runs: list[Run] = []
    resets = 0
    if position is not None and position.kind != gpu.kind:
        position = None  # the GPU switched between counter and power: start again from here
    current: list | None = None  # end_ts, duration_s, energy_j, job set of the open run
    for ts in sorted(gpu.points):
        value, job_set = gpu.points[ts]
        if position is None:
            position = Position(ts, value, gpu.kind)
            continue
        if ts <= position.ts:
            continue
        duration = ts - position.ts
        if gpu.kind == KIND_ENERGY:
            delta_mj, reset = counter_delta(position.value, value)
            resets += reset
            energy_j = delta_mj / 1000.0
        else:
            energy_j = max(0.0, (position.value + value) / 2 * duration)
        jobs = job_set if duration <= max_attributed_gap_s else NO_JOBS
        if current is not None and current[3] == jobs:
            current[0] = ts
            current[1] += duration
            current[2] += energy_j
        else:
            if current is not None:
                runs.append(_run(*current))
            current = [ts, duration, energy_j, jobs]
        position = Position(ts, value, gpu.kind)
    if current is not None:
        runs.append(_run(*current))
    return runs, position, resets


NO_JOBS: frozenset = frozenset()


def _run(end_ts: float, duration_s: float, energy_j: float, job_set: frozenset) -> Run:
    jobs = merge_jobs([(job, 1.0 / len(job_set)) for job in job_set]) if job_set else None
    return Run(end_ts, duration_s, energy_j, jobs)


# --- what the prometheus and dcgm sources share ----------------------------------------------


class TelemetrySource(Source):
    """Turns each poll's GpuPoints into samples and keeps every GPU's read position.

    The position of each GPU (time and value of its newest point) is the state saved with each
    spooled batch. The agent spools one batch per host; the state saved with a batch holds the
    new positions of the hosts spooled so far and the previous ones of the others, so a restart
    after a crash between two of them re-reads exactly the hosts whose batch is missing.
    """

    def __init__(self, *, poll_every_s: float, clock):
        self.poll_every_s = poll_every_s
        self.clock = clock
        # Points further apart than this mean the series was missing (Prometheus' staleness
        # is 5 minutes): their energy counts, who held the GPU meanwhile is unknown.
        self.max_attributed_gap_s = max(300.0, 2 * poll_every_s)
        self.positions: dict[str, Position] = {}
        self.committed: dict[str, Position] = {}
        self.hosts: dict[str, str] = {}
        self.counter_resets = 0
        self.dropped_energy_j = 0.0
        self._next_poll = 0.0
        # Serving engines' counters (prometheus source): each series' last (ts, value), saved
        # with the batch that carries their work, which goes with the agent's own host.
        self.work_host: str | None = None
        self.work_positions: dict[str, tuple[float, float]] = {}
        self.committed_work_positions: dict[str, tuple[float, float]] = {}
        self.work_resets = 0
        self._pending_work: list[WorkSample] = []

    def fetch(self) -> dict[str, GpuPoints]:
        raise NotImplementedError

    def restore(self, state: dict) -> None:
        for uuid, raw in (state.get("positions") or {}).items():
            position = Position.from_state(raw)
            if position is not None:
                self.positions[uuid] = position
        hosts = state.get("hosts") or {}
        self.hosts.update({uuid: host for uuid, host in hosts.items() if uuid in self.positions})
        self.committed = dict(self.positions)
        for key, raw in (state.get("work_positions") or {}).items():
            try:
                ts, value = float(raw[0]), float(raw[1])
            except (TypeError, ValueError, IndexError):
                continue
            if math.isfinite(ts + value):
                self.work_positions[key] = (ts, value)
        self.committed_work_positions = dict(self.work_positions)

    def work_from(self, series: list[Series]) -> None:
        """Turn counter series into work samples, kept until the runner takes them."""
        items, resets = work_items(series, self.work_positions)
        if resets:
            self.work_resets += resets
            log.warning(
                "%d serving engine counter(s) went down (engine restarted): counting from the "
                "new values",
                resets,
            )
        for item in items:
            pieces, _ = split_interval(item.end_ts, item.duration_s, item.units)
            job = merge_jobs([(item.job, 1.0)]) if item.job else None
            self._pending_work.extend(
                WorkSample(
                    ts=piece.end_ts,
                    duration_s=piece.duration_s,
                    kind=item.kind,
                    units=piece.energy_j,
                    model_name=item.model_name,
                    job=job,
                )
                for piece in pieces
            )

    def take_work(self) -> list[WorkSample]:
        work, self._pending_work = self._pending_work, []
        return work

    def read(self) -> list[Sample]:
        now = self.clock()
        if now < self._next_poll:
            return []
        self._next_poll = now + self.poll_every_s
        return self.samples_from(self.fetch())

    def samples_from(self, gpus: dict[str, GpuPoints]) -> list[Sample]:
        samples: list[Sample] = []
        for uuid in sorted(gpus):
            gpu = gpus[uuid]
            runs, position, resets = advance(
                self.positions.get(uuid), gpu, max_attributed_gap_s=self.max_attributed_gap_s
            )
            if resets:
                self.counter_resets += resets
                log.warning(
                    "energy counter of GPU %s on %s went down (driver reloaded or exporter "
                    "restarted): counting from the new value",
                    uuid,
                    gpu.identity.host,
                )
            if position is None:
                continue
            self.positions[uuid] = position
            self.hosts[uuid] = gpu.identity.host
            device = DeviceInfo(
                uuid=uuid,
                kind="gpu",
                index=gpu.identity.index,
                name=gpu.identity.model,
                power_limit_w=gpu.power_limit_w,
                host=gpu.identity.host,
            )
            gpu_samples = []
            for run in runs:
                pieces, dropped = split_interval(run.end_ts, run.duration_s, run.energy_j)
                self.dropped_energy_j += dropped
                gpu_samples.extend(
                    Sample(
                        device=device,
                        ts=piece.end_ts,
                        duration_s=piece.duration_s,
                        energy_j=piece.energy_j,
                        power_w=piece.energy_j / piece.duration_s,
                        job=run.jobs,
                    )
                    for piece in pieces
                )
            if gpu_samples:
                gpu_samples[-1].util_pct = gpu.util_pct
                gpu_samples[-1].mem_used_mib = gpu.mem_used_mib
            samples.extend(gpu_samples)
        self._forget_old(self.clock())
        return samples

    def _forget_old(self, now: float) -> None:
        # A GPU gone for longer than any gap the agent back-fills: keep the state small.
        for uuid in [u for u, p in self.positions.items() if p.ts < now - MAX_GAP_S]:
            del self.positions[uuid]
            self.hosts.pop(uuid, None)
        for key in [k for k, p in self.work_positions.items() if p[0] < now - MAX_GAP_S]:
            del self.work_positions[key]

    def _positions_state(self, hosts: frozenset[str] | None) -> dict:
        if hosts is None:
            chosen = self.positions
        else:
            chosen = dict(self.committed)
            chosen.update({u: p for u, p in self.positions.items() if self.hosts.get(u) in hosts})
        state = {
            "positions": {uuid: position.to_state() for uuid, position in chosen.items()},
            "hosts": {uuid: self.hosts[uuid] for uuid in chosen if uuid in self.hosts},
        }
        # The work goes in the batch of work_host: its positions move on with that batch.
        work_spooled = hosts is None or self.work_host in hosts
        work = self.work_positions if work_spooled else self.committed_work_positions
        if work:
            state["work_positions"] = {key: list(value) for key, value in work.items()}
        return state

    def state(self) -> dict:
        return self.state_for_hosts(None)

    def state_for_hosts(self, hosts: frozenset[str] | None) -> dict:
        return self._positions_state(hosts)

    def spooled(self) -> None:
        self.committed = dict(self.positions)
        self.committed_work_positions = dict(self.work_positions)


# --- serving work: vLLM's counters -----------------------------------------------------------

# vLLM's counters and the kind of work each counts (docs/agent.md, "Serving work"). Requests
# are counted once per finished_reason (stop, length, abort): their series are summed.
VLLM_COUNTERS = {
    "vllm:request_success_total": "requests",
    "vllm:prompt_tokens_total": "input_tokens",
    "vllm:generation_tokens_total": "output_tokens",
}


@dataclass(frozen=True)
class WorkItem:
    """Units one pod's engine counted for one model over [end_ts - duration_s, end_ts)."""

    kind: str
    model_name: str
    job: Job | None
    end_ts: float
    duration_s: float
    units: float


def counter_series_key(metric: str, labels: dict[str, str]) -> str:
    """A counter series' identity across reads (and restarts of the agent)."""
    return json.dumps([metric, sorted(labels.items())], separators=(",", ":"))


def advance_counter(
    position: tuple[float, float] | None, points: list[tuple[float, float]]
) -> tuple[tuple[float, float, float] | None, tuple[float, float] | None, int]:
    """((start, end, increase) of the points newer than position, or None), the new position
    (ts, value) and how many times the counter went down (the engine restarted: counting
    starts again from its new value, as for energy).

    Without a position (a series seen for the first time) the first point is the baseline."""
    increase = 0.0
    resets = 0
    start = None
    for ts, value in sorted(points):
        if position is None:
            position = (ts, value)
            continue
        if ts <= position[0]:
            continue
        delta, reset = counter_delta(position[1], value)
        resets += reset
        increase += delta
        if start is None:
            start = position[0]
        position = (ts, value)
    if start is None:
        return None, position, resets
    return (start, position[0], increase), position, resets


def work_items(
    series: list[Series], positions: dict[str, tuple[float, float]]
) -> tuple[list[WorkItem], int]:
    """Work items of these counter series since positions (updated in place), and the counter
    resets seen. The series of one pod, model and kind (one per finished_reason) that end
    together make one item."""
    merged: dict[tuple, list] = {}
    resets_seen = 0
    for item in series:
        kind = VLLM_COUNTERS.get(item.metric)
        if kind is None:
            continue
        key = counter_series_key(item.metric, item.labels)
        interval, position, resets = advance_counter(positions.get(key), item.points)
        resets_seen += resets
        if position is not None:
            positions[key] = position
        if interval is None:
            continue
        start, end, units = interval
        job = pod_job(item.labels)
        group = (kind, item.labels.get("model_name", ""), job, end)
        known = merged.get(group)
        if known is None:
            merged[group] = [start, units]
        else:
            known[0] = min(known[0], start)
            known[1] += units
    items = [
        WorkItem(kind, model, job, end, end - start, units)
        for (kind, model, job, end), (start, units) in merged.items()
        if end > start
    ]
    items.sort(key=lambda w: (w.end_ts, w.kind, w.model_name, w.job or ()))
    return items, resets_seen
