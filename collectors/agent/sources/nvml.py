"""`nvml`: NVIDIA GPUs through NVML (nvidia-ml-py), never by shelling out to nvidia-smi.

Energy comes from the total-energy counter (mJ since the driver loaded; Volta and newer) as the
difference between two reads; GPUs without it (NVMLError_NotSupported) get the trapezoid
integral of power polled several times per interval. A counter that goes down means the driver
was reloaded: counted as a reset. The last counter value of each GPU is part of the state saved
with every spooled batch, so after a restart in the same boot the energy spent while the agent
was down is reported as one gap-covering interval (cut into pieces of at most an hour).

The pynvml module is passed in (tests give tests/agent/fake_pynvml.py); by default the real one.
"""

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from collectors.agent.energy import PowerIntegrator, counter_delta, split_interval
from collectors.agent.model import DeviceInfo, Sample
from collectors.agent.sources import Source, SourceError
from collectors.agent.sources.attribution import (
    ProcessProjects,
    merge_jobs,
    merge_tags,
    process_shares,
)
from collectors.agent.sources.rapl import read_boot_id

log = logging.getLogger("greenai.agent")

MIB = 1024 * 1024
NVML_DEVICE_MIG_ENABLE = 1
POLLS_PER_INTERVAL = 5
# Every GPU failing this many reads in a row (e.g. a driver reload): initialise NVML again,
# at most once per REINIT_EVERY_S.
REINIT_AFTER_FAILED_READS = 3
REINIT_EVERY_S = 30.0


def load_pynvml():
    try:
        import pynvml
    except ImportError:
        raise SourceError(
            "the nvml source needs nvidia-ml-py: `pip install nvidia-ml-py`"
        ) from None
    return pynvml


@dataclass
class MigSlice:
    handle: object
    device: DeviceInfo
    memory_total: int


@dataclass
class Gpu:
    handle: object
    device: DeviceInfo
    has_counter: bool
    memory_total: int = 0
    mig_slices: list[MigSlice] = field(default_factory=list)
    last_counter_mj: int = 0
    last_ts: float = 0.0
    integrator: PowerIntegrator | None = None
    last_util_stamp_us: int = 0
    failing: bool = False


class NvmlSource(Source):
    key = "nvml"

    def __init__(
        self,
        *,
        interval_s: float,
        nvml=None,
        proc_root: Path = Path("/proc"),
        clock=time.time,
        boot_id: str | None = None,
    ):
        self.interval_s = interval_s
        self.nvml = nvml
        self.clock = clock
        self.boot_id = read_boot_id() if boot_id is None else boot_id
        self.projects = ProcessProjects(proc_root)
        self.gpus: list[Gpu] = []
        self.counter_resets = 0
        self.dropped_energy_j = 0.0
        self._attribution_failed = False
        self._failed_reads = 0
        self._last_reinit = float("-inf")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # --- start -----------------------------------------------------------------------------

    def open(self, state: dict | None = None) -> None:
        nvml = self.nvml = self.nvml or load_pynvml()
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            raise SourceError(
                f"NVML cannot start ({exc}). Check that the NVIDIA driver is installed and loaded "
                "(`nvidia-smi` works), that libnvidia-ml.so.1 is on the library path, and in a "
                "container that it runs with the NVIDIA runtime (NVIDIA_VISIBLE_DEVICES=all)."
            ) from None
        try:
            count = nvml.nvmlDeviceGetCount()
            for index in range(count):
                self.gpus.append(self._open_gpu(index))
        except nvml.NVMLError as exc:
            raise SourceError(f"NVML cannot list the GPUs: {exc}") from None
        if not self.gpus:
            raise SourceError("NVML found no GPU on this machine; use --source rapl or sim:N.")
        self._restore(state or {})
        if any(not gpu.has_counter for gpu in self.gpus):
            self._poller = threading.Thread(target=self._poll_loop, name="nvml-power", daemon=True)
            self._poller.start()

    def _open_gpu(self, index: int) -> Gpu:
        nvml = self.nvml
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        uuid_text = nvml.nvmlDeviceGetUUID(handle)
        name = nvml.nvmlDeviceGetName(handle)
        try:
            power_limit_w = nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0
        except nvml.NVMLError:
            power_limit_w = None
        slices = self._mig_slices(handle, uuid_text, index)
        device = DeviceInfo(
            uuid=uuid_text,
            kind="gpu",
            index=index,
            name=name,
            power_limit_w=power_limit_w,
            mig_slices=tuple(mig.device for mig in slices),
        )
        try:
            counter = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            has_counter = True
        except nvml.NVMLError_NotSupported:
            counter, has_counter = 0, False
            log.info("GPU %d (%s) has no energy counter: integrating polled power", index, name)
        gpu = Gpu(handle=handle, device=device, has_counter=has_counter, mig_slices=slices)
        gpu.memory_total = nvml.nvmlDeviceGetMemoryInfo(handle).total
        gpu.last_counter_mj, gpu.last_ts = counter, self.clock()
        if not has_counter:
            gpu.integrator = PowerIntegrator()
            gpu.integrator.add(gpu.last_ts, nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0)
        return gpu

    def _mig_slices(self, handle, parent_uuid: str, index: int) -> list[MigSlice]:
        nvml = self.nvml
        try:
            current_mode, _pending = nvml.nvmlDeviceGetMigMode(handle)
        except nvml.NVMLError:
            return []  # not MIG-capable
        if current_mode != NVML_DEVICE_MIG_ENABLE:
            return []
        slices = []
        for slot in range(nvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
            try:
                mig_handle = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
            except nvml.NVMLError_NotFound:
                continue
            device = DeviceInfo(
                uuid=nvml.nvmlDeviceGetUUID(mig_handle),
                kind="gpu",
                index=index,
                name=nvml.nvmlDeviceGetName(mig_handle),
                parent_uuid=parent_uuid,
            )
            total = nvml.nvmlDeviceGetMemoryInfo(mig_handle).total
            slices.append(MigSlice(handle=mig_handle, device=device, memory_total=total))
        return slices

    def _restore(self, state: dict) -> None:
        """Resume from the counters saved with the last spooled batch (same boot only)."""
        if not state or state.get("boot_id") != self.boot_id or not self.boot_id:
            return
        saved = state.get("counters", {})
        for gpu in self.gpus:
            previous = saved.get(gpu.device.uuid)
            if not gpu.has_counter or not previous:
                continue
            counter_mj, ts = int(previous[0]), float(previous[1])
            if counter_mj <= gpu.last_counter_mj and ts < gpu.last_ts:
                gpu.last_counter_mj, gpu.last_ts = counter_mj, ts
            else:
                # The counter went down while the agent was away: the driver was reloaded and
                # the energy before that is unknown.
                self.counter_resets += 1
                log.warning(
                    "energy counter of GPU %d went down while the agent was stopped (driver "
                    "reloaded): the time since %s is reported from now on only",
                    gpu.device.index,
                    time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)),
                )

    # --- power polling for GPUs without an energy counter ------------------------------------

    def _poll_loop(self) -> None:
        period = self.interval_s / POLLS_PER_INTERVAL
        while not self._stop.wait(period):
            self._poll_power()

    def _poll_power(self) -> None:
        for gpu in self.gpus:
            if gpu.has_counter:
                continue
            try:
                power_w = self.nvml.nvmlDeviceGetPowerUsage(gpu.handle) / 1000.0
            except self.nvml.NVMLError:
                continue
            with self._lock:
                gpu.integrator.add(self.clock(), power_w)

    # --- reading -----------------------------------------------------------------------------

    def devices(self) -> list[DeviceInfo]:
        return [gpu.device for gpu in self.gpus]

    def read(self) -> list[Sample]:
        if any(not gpu.has_counter for gpu in self.gpus):
            self._poll_power()
        samples = []
        errors = []
        live_pids: set[int] = set()
        for gpu in self.gpus:
            try:
                samples.extend(self._read_gpu(gpu, live_pids))
                if gpu.failing:
                    log.info("GPU %d reads again", gpu.device.index)
                gpu.failing = False
            except self.nvml.NVMLError as exc:
                errors.append(f"GPU {gpu.device.index}: {exc}")
                if not gpu.failing:
                    log.warning("cannot read GPU %d: %s", gpu.device.index, exc)
                gpu.failing = True
        self.projects.forget_except(live_pids)
        if errors and not samples:
            self._failed_reads += 1
            if self._failed_reads >= REINIT_AFTER_FAILED_READS:
                self._reinitialise()
            raise SourceError("; ".join(errors))
        self._failed_reads = 0
        return samples

    def _reinitialise(self) -> None:
        """After a driver reload the old handles stay invalid: start NVML again, same GPUs."""
        now = self.clock()
        if now - self._last_reinit < REINIT_EVERY_S:
            return
        self._last_reinit = now
        nvml = self.nvml
        try:
            nvml.nvmlShutdown()
        except nvml.NVMLError:
            pass
        try:
            nvml.nvmlInit()
            for gpu in self.gpus:
                gpu.handle = nvml.nvmlDeviceGetHandleByUUID(gpu.device.uuid)
                for mig in gpu.mig_slices:
                    mig.handle = nvml.nvmlDeviceGetHandleByUUID(mig.device.uuid)
        except nvml.NVMLError as exc:
            log.warning("NVML could not be started again: %s; retrying later", exc)
            return
        log.info("NVML started again after %d failed reads", self._failed_reads)

    def _read_gpu(self, gpu: Gpu, live_pids: set[int]) -> list[Sample]:
        nvml = self.nvml
        handle = gpu.handle
        if gpu.has_counter:
            counter = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            now = self.clock()
            delta_mj, reset = counter_delta(gpu.last_counter_mj, counter)
            if reset:
                self.counter_resets += 1
                log.warning(
                    "energy counter of GPU %d went down (%d -> %d mJ): driver reloaded; counting "
                    "from the new value",
                    gpu.device.index,
                    gpu.last_counter_mj,
                    counter,
                )
            energy_j, duration = delta_mj / 1000.0, now - gpu.last_ts
        else:
            with self._lock:
                energy_j, duration = gpu.integrator.take()
            now, counter = gpu.last_ts + duration, 0
        if duration <= 0:
            return []
        util_pct = self._utilisation(handle)
        mem_used_mib = nvml.nvmlDeviceGetMemoryInfo(handle).used / MIB
        try:
            tags, jobs = self._attribution(gpu, live_pids)
        except Exception as exc:  # attribution is extra: never lose a GPU's energy over it
            if not self._attribution_failed:
                self._attribution_failed = True
                log.warning("process attribution failed, samples go untagged: %r", exc)
            tags = jobs = None
        pieces, dropped = split_interval(now, duration, energy_j)
        self.dropped_energy_j += dropped
        # Only an ordinary interval is attributed: who ran during a gap is unknown.
        is_gap = duration > max(2 * self.interval_s, self.interval_s + 5)
        samples = [
            Sample(
                device=gpu.device,
                ts=piece.end_ts,
                duration_s=piece.duration_s,
                energy_j=piece.energy_j,
                power_w=piece.energy_j / piece.duration_s,
                util_pct=util_pct if piece is pieces[-1] else None,
                mem_used_mib=mem_used_mib if piece is pieces[-1] else None,
                tags=None if is_gap else tags,
                job=None if is_gap else jobs,
            )
            for piece in pieces
        ]
        gpu.last_counter_mj, gpu.last_ts = counter, now
        return samples

    def _utilisation(self, handle) -> float | None:
        try:
            return float(self.nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except self.nvml.NVMLError:
            return None  # e.g. a GPU in MIG mode

    def _attribution(self, gpu: Gpu, live_pids: set[int]) -> tuple[list | None, list | None]:
        """(tags, jobs): the projects and the Slurm jobs of the GPU's processes, with shares."""
        shares: list[tuple[int, float]] = []
        if gpu.mig_slices:
            # NVML has no per-process utilisation in MIG mode: each slice gets the part of the
            # GPU its memory size stands for, shared equally by its processes.
            for mig in gpu.mig_slices:
                pids = self._pids(mig.handle)
                live_pids.update(pids)
                weight = mig.memory_total / gpu.memory_total if gpu.memory_total else 0.0
                for pid, share in process_shares(pids, None).items():
                    shares.append((pid, weight * share))
        else:
            pids = self._pids(gpu.handle)
            if not pids:
                return None, None
            live_pids.update(pids)
            shares = list(process_shares(pids, self._sm_utilisation(gpu)).items())
        tags = merge_tags([(self.projects.project_of(pid), share) for pid, share in shares])
        jobs = merge_jobs([(self.projects.job_of(pid), share) for pid, share in shares])
        return tags, jobs

    def _pids(self, handle) -> list[int]:
        nvml = self.nvml
        mismatch = getattr(nvml, "NVMLLibraryMismatchError", ())
        try:
            try:
                processes = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
            except mismatch:
                # A driver older than nvidia-ml-py has no _v3 of this call: ask for _v2.
                processes = nvml.nvmlDeviceGetComputeRunningProcesses_v2(handle)
        except nvml.NVMLError:
            return []
        return sorted({process.pid for process in processes})

    def _sm_utilisation(self, gpu: Gpu) -> dict[int, float] | None:
        """Mean SM utilisation per pid since the previous read; None where NVML has none."""
        nvml = self.nvml
        try:
            records = nvml.nvmlDeviceGetProcessUtilization(gpu.handle, gpu.last_util_stamp_us)
        except nvml.NVMLError:  # NotFound: no samples in the window; NotSupported: old GPU
            return None
        sums: dict[int, list[float]] = {}
        for record in records:
            sums.setdefault(record.pid, []).append(float(record.smUtil))
            gpu.last_util_stamp_us = max(gpu.last_util_stamp_us, int(record.timeStamp))
        return {pid: sum(values) / len(values) for pid, values in sums.items()} or None

    def state(self) -> dict:
        return {
            "boot_id": self.boot_id,
            "counters": {
                gpu.device.uuid: [gpu.last_counter_mj, gpu.last_ts]
                for gpu in self.gpus
                if gpu.has_counter
            },
        }

    def close(self) -> None:
        self._stop.set()
        if self._poller:
            self._poller.join(timeout=2)
        if self.nvml and self.gpus:
            try:
                self.nvml.nvmlShutdown()
            except self.nvml.NVMLError:
                pass
