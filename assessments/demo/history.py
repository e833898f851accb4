"""The demo organisation's history: realistic GPU power samples and daily units of work.

Pure generation: plain values in, ingest payloads (docs/architecture.md, 4.2) and plain numbers
out, no ORM.
assessments.demo.seed writes what this produces through the real ingest and rollup services.

Everything is a function of absolute time, never of the moment the demo was seeded: a sample at
a given timestamp always has the same value, and batch ids are derived from their content. So
seeding again later stores nothing twice and only adds the samples up to the new "now".

The scenario (see DEMO_HOSTS and DEMO_PROJECTS):
- gpu-node-01, Paris, 8x H100 (2024): LLM pre-training in multi-day runs on GPUs 0-5 with idle
  days between runs (untagged, no allocation: unallocated energy), fine-tuning jobs started in
  office hours on GPUs 6-7; both tagged by process.
- gpu-node-02, Frankfurt, 4x A100 (2022): chat inference following the users' day, allocated to
  the project (untagged samples); quantised on the optimisation day: its power per inference
  drops by about 40 %, the traffic stays the same.
- gpu-node-03, Paris, 4x L4 (2023): data preparation in office hours on GPUs 0-1 (allocated),
  vision training on GPU 2 (tagged) and GPU 3 shared by two projects tagged 70/30.
- gpu-node-04, Frankfurt, 2x V100 (2019): nightly evaluation on GPU 0 (allocated); GPU 1 idles
  all day, allocated to nobody.
"""

import functools
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DAY_S = 86_400
HOUR_S = 3_600
DEFAULT_INTERVAL_S = 300
AGENT_VERSION = "demo-0.1"
# Office hours and users' days are in Central European time, taken as UTC+1 all year (the demo
# does not model daylight saving).
LOCAL_OFFSET_S = HOUR_S
_NAMESPACE = uuid.UUID("6f1d3c52-8a7e-4c1b-9a55-2f5d0c7e9b10")

# After quantisation the inference model draws this share of its former load-dependent power
# (int8 kernels: fewer bytes moved per token); idle power is unchanged. With the demo's traffic
# this lowers the energy per inference by about 40 %.
QUANTISED_DYNAMIC_POWER_FACTOR = 0.33


@dataclass(frozen=True)
class DemoProject:
    slug: str
    name: str
    team: str
    phase: str
    work_unit: str
    units_per_busy_second: float  # units of work one GPU does per second at full load


@dataclass(frozen=True)
class GpuUse:
    """What one GPU runs: a load pattern, the projects it serves and whether samples are tagged.

    Tagged uses carry process tags (project, phase, share) while the GPU is busy; untagged uses
    rely on an allocation in the inventory (or on nothing: unallocated).
    """

    pattern: str
    projects: tuple[tuple[str, float], ...] = ()  # (project slug, share of the GPU)
    tagged: bool = False


@dataclass(frozen=True)
class DemoHost:
    hostname: str
    gpu_name: str  # as NVML reports it
    power_limit_w: float
    idle_w: float
    memory_mib: float
    uses: tuple[GpuUse, ...]  # one per GPU, by index

    def gpu_uuid(self, index: int) -> str:
        return f"GPU-{uuid.uuid5(_NAMESPACE, f'{self.hostname}/{index}')}"


DEMO_PROJECTS = (
    DemoProject("llm-pretrain", "LLM pre-training", "NLP", "training", "training tokens", 3_000),
    DemoProject("llm-finetune", "LLM fine-tuning", "NLP", "fine_tuning", "training samples", 40),
    DemoProject("chat-inference", "Chat assistant", "Applied AI", "inference", "inferences", 25),
    DemoProject(
        "vision-data-prep",
        "Image dataset preparation",
        "Computer Vision",
        "data_preparation",
        "images processed",
        400,
    ),
    DemoProject(
        "vision-training",
        "Defect detection model",
        "Computer Vision",
        "training",
        "training samples",
        600,
    ),
    DemoProject(
        "model-eval", "Model evaluation suite", "Applied AI", "evaluation", "evaluation prompts", 20
    ),
)
PROJECTS_BY_SLUG = {project.slug: project for project in DEMO_PROJECTS}
OPTIMISED_PROJECT = "chat-inference"

_PRETRAIN = GpuUse("training_runs", (("llm-pretrain", 1.0),), tagged=True)
_FINETUNE = GpuUse("office_jobs", (("llm-finetune", 1.0),), tagged=True)
_INFERENCE = GpuUse("inference", (("chat-inference", 1.0),))
_DATA_PREP = GpuUse("data_prep", (("vision-data-prep", 1.0),))
_VISION = GpuUse("vision_training", (("vision-training", 1.0),), tagged=True)
_SHARED = GpuUse("vision_training", (("vision-training", 0.7), ("model-eval", 0.3)), tagged=True)
_EVAL = GpuUse("nightly_eval", (("model-eval", 1.0),))
_IDLE = GpuUse("idle")

DEMO_HOSTS = (
    DemoHost(
        "gpu-node-01", "NVIDIA H100 80GB HBM3", 700, 72, 81_559, (_PRETRAIN,) * 6 + (_FINETUNE,) * 2
    ),
    DemoHost("gpu-node-02", "NVIDIA A100-SXM4-80GB", 400, 56, 81_920, (_INFERENCE,) * 4),
    DemoHost(
        "gpu-node-03", "NVIDIA L4", 72, 16, 23_034, (_DATA_PREP, _DATA_PREP, _VISION, _SHARED)
    ),
    DemoHost("gpu-node-04", "Tesla V100-SXM2-32GB", 300, 41, 32_768, (_EVAL, _IDLE)),
)


# --- Load patterns: the share of a GPU's capacity in use at a time, 0..1 --------------------


def _local_hour(ts: float) -> float:
    return ((ts + LOCAL_OFFSET_S) % DAY_S) / HOUR_S


def _is_weekday(ts: float) -> bool:
    return datetime.fromtimestamp(ts + LOCAL_OFFSET_S, UTC).weekday() < 5


def _day_random(*key) -> random.Random:
    """A generator fixed by its key, so a day's draws never depend on when the demo ran."""
    return random.Random("/".join(str(part) for part in key))


def _training_runs(ts: float, day_rnd: random.Random, day: int) -> float:
    # Runs of eight days, then two days of data work and evaluation with the GPUs idle.
    if day % 10 >= 8:
        return 0.0
    # A checkpoint every three hours stalls the GPUs for a few minutes.
    if ts % (3 * HOUR_S) < 300:
        return 0.35
    return 0.93


def _daily_job(
    name: str, ts: float, day: int, *, start_h: tuple, hours: tuple, weekend_chance: float
) -> bool:
    """Whether a job started on this UTC day or the day before runs at ts.

    Each day's job has a start hour (local) and a length drawn from ranges, fixed by the day;
    one started yesterday may still run after midnight.
    """
    for job_day in (day - 1, day):
        window = _job_window(name, job_day, start_h, hours, weekend_chance)
        if window and window[0] <= ts < window[1]:
            return True
    return False


@functools.lru_cache(maxsize=4096)
def _job_window(
    name: str, job_day: int, start_h: tuple, hours: tuple, weekend_chance: float
) -> tuple[float, float] | None:
    """(start, end) in epoch seconds of the job started on job_day, or None: no job that day."""
    rnd = _day_random(name, job_day)
    starts = job_day * DAY_S + rnd.uniform(*start_h) * HOUR_S - LOCAL_OFFSET_S
    if _is_weekday(starts):
        if rnd.random() < 0.15:
            return None
    elif rnd.random() > weekend_chance:
        return None
    return starts, starts + rnd.uniform(*hours) * HOUR_S


@functools.lru_cache(maxsize=4096)
def _daily_traffic(day: int) -> float:
    """Some days are busier than others (campaigns, outages elsewhere): 0.85 to 1.15."""
    return 0.85 + 0.3 * _day_random("traffic", day).random()


def _office_jobs(ts: float, day_rnd: random.Random, day: int) -> float:
    # Fine-tuning jobs are started in the morning and run for 6 to 14 hours.
    running = _daily_job("finetune", ts, day, start_h=(9, 10.5), hours=(6, 14), weekend_chance=0.3)
    return 0.78 if running else 0.0


def _inference(ts: float, day_rnd: random.Random, day: int) -> float:
    # Users' traffic: a night floor and a daytime bell peaking mid-afternoon, weaker at weekends.
    hour = _local_hour(ts)
    daytime = math.exp(-(((hour - 14.5) / 4.2) ** 2))
    weekday_factor = 1.0 if _is_weekday(ts) else 0.55
    return 0.1 + 0.75 * daytime * weekday_factor * _daily_traffic(day)


def _data_prep(ts: float, day_rnd: random.Random, day: int) -> float:
    hour = _local_hour(ts)
    if not _is_weekday(ts) or not 8.5 <= hour < 19:
        return 0.0
    return 0.3 + 0.35 * day_rnd.random()  # bursty: decoding and augmentation stall the GPU


def _vision_training(ts: float, day_rnd: random.Random, day: int) -> float:
    # A training run is started most working mornings and often runs into the night.
    running = _daily_job(
        "vision_training", ts, day, start_h=(10, 12), hours=(8, 18), weekend_chance=0.0
    )
    return 0.86 if running else 0.0


def _nightly_eval(ts: float, day_rnd: random.Random, day: int) -> float:
    hour = _local_hour(ts)
    if 1 <= hour < 5:
        return 0.82
    rnd = _day_random("adhoc_eval", day)
    if _is_weekday(ts) and rnd.random() < 0.4 and 14 <= hour < 16:
        return 0.7
    return 0.0


def _idle(ts: float, day_rnd: random.Random, day: int) -> float:
    return 0.0


PATTERNS = {
    "training_runs": _training_runs,
    "office_jobs": _office_jobs,
    "inference": _inference,
    "data_prep": _data_prep,
    "vision_training": _vision_training,
    "nightly_eval": _nightly_eval,
    "idle": _idle,
}


# --- Samples ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuReading:
    power_w: float
    util_pct: float
    mem_used_mib: float


def gpu_reading(
    *, host: DemoHost, load: float, quantised: bool, noise: float, mem_noise: float
) -> GpuReading:
    """Power, utilisation and memory of a GPU at a load (0..1); noise in [-1, 1]."""
    dynamic_w = (host.power_limit_w * 0.92 - host.idle_w) * load**1.15
    if quantised:
        dynamic_w *= QUANTISED_DYNAMIC_POWER_FACTOR
    power_w = (host.idle_w + dynamic_w) * (1 + 0.03 * noise)
    if load <= 0:
        return GpuReading(round(power_w, 2), 0.0, round(300 + 200 * mem_noise, 1))
    util = load * (0.6 if quantised else 1.0) * 100 * (1 + 0.04 * noise)
    memory_share = 0.35 if quantised else 0.7
    mem = host.memory_mib * memory_share * (0.9 + 0.1 * mem_noise)
    return GpuReading(round(power_w, 2), round(min(util, 100.0), 1), round(mem, 1))


@dataclass
class DemoHistory:
    """Generates the demo's samples over [start, end) and tallies its units of work per day.

    start must be a UTC midnight (so every day is generated from its beginning and its draws
    never depend on the window); end is the timestamp of the newest sample plus one second or
    any later moment (samples end at multiples of interval_s). optimisation_at: when the
    optimised project was quantised.
    """

    start: datetime
    end: datetime
    optimisation_at: datetime
    interval_s: int = DEFAULT_INTERVAL_S
    hosts: tuple[DemoHost, ...] = DEMO_HOSTS
    # (project slug, UTC day start) -> units of work; filled while batches are generated.
    work_units: dict[tuple[str, datetime], float] = field(
        default_factory=lambda: defaultdict(float)
    )

    def __post_init__(self):
        if self.start.timestamp() % DAY_S:
            raise ValueError(f"start must be a UTC midnight, got {self.start.isoformat()}")
        if DAY_S % self.interval_s:
            raise ValueError(f"interval_s must divide a day, got {self.interval_s}")
        if self.end <= self.start:
            raise ValueError("end must be after start")

    def days(self) -> list[datetime]:
        first = int(self.start.timestamp())
        last = int(self.end.timestamp())
        return [datetime.fromtimestamp(ts, UTC) for ts in range(first, last, DAY_S)]

    def sample_count(self) -> int:
        per_gpu = self._timestamps_count()
        return per_gpu * sum(len(host.uses) for host in self.hosts)

    def _timestamps_count(self) -> int:
        span = int(self.end.timestamp()) - int(self.start.timestamp())
        return (span - 1) // self.interval_s

    def batches(self) -> Iterator[dict]:
        """Ingest payloads, one per host and UTC day, oldest day first."""
        for day in self.days():
            for host in self.hosts:
                payload = self._host_day(host, day)
                if payload["samples"]:
                    yield payload

    def _host_day(self, host: DemoHost, day: datetime) -> dict:
        day_start = int(day.timestamp())
        day_number = day_start // DAY_S
        # A sample's ts is the end of its interval; the first one of the window ends one
        # interval after start, and none is later than end.
        last_ts = min(day_start + DAY_S, int(self.end.timestamp()) - 1)
        optimised_from = self.optimisation_at.timestamp()
        samples = []
        for index, use in enumerate(host.uses):
            device = host.gpu_uuid(index)
            pattern = PATTERNS[use.pattern]
            day_rnd = _day_random(host.hostname, index, day_number)
            for ts in range(day_start + self.interval_s, last_ts + 1, self.interval_s):
                load = pattern(ts, day_rnd, day_number)
                # Each GPU of a host runs its own part of the job: small differences in load.
                if load > 0:
                    load = min(1.0, load * (0.96 + 0.08 * day_rnd.random()))
                quantised = (
                    use.projects and use.projects[0][0] == OPTIMISED_PROJECT and ts > optimised_from
                )
                reading = gpu_reading(
                    host=host,
                    load=load,
                    quantised=bool(quantised),
                    noise=day_rnd.uniform(-1, 1),
                    mem_noise=day_rnd.random(),
                )
                sample = {
                    "device": device,
                    "ts": ts,
                    "duration_s": float(self.interval_s),
                    "energy_j": round(reading.power_w * self.interval_s, 1),
                    "power_w": reading.power_w,
                    "util_pct": reading.util_pct,
                    "mem_used_mib": reading.mem_used_mib,
                }
                if load > 0 and use.tagged:
                    sample["tags"] = [
                        {"project": slug, "phase": PROJECTS_BY_SLUG[slug].phase, "share": share}
                        for slug, share in use.projects
                    ]
                samples.append(sample)
                self._tally_work(use, load, ts)
        return {
            "batch_id": batch_id(host.hostname, samples),
            "host": {"hostname": host.hostname, "agent_version": AGENT_VERSION},
            "devices": [
                {
                    "uuid": host.gpu_uuid(index),
                    "kind": "gpu",
                    "index": index,
                    "name": host.gpu_name,
                    "power_limit_w": float(host.power_limit_w),
                    "source": "simulated",
                }
                for index in range(len(host.uses))
            ],
            "samples": samples,
        }

    def _tally_work(self, use: GpuUse, load: float, ts: int) -> None:
        if load <= 0:
            return
        # The interval ending at ts belongs to the day it started in.
        day = datetime.fromtimestamp((ts - self.interval_s) // DAY_S * DAY_S, UTC)
        for slug, share in use.projects:
            rate = PROJECTS_BY_SLUG[slug].units_per_busy_second
            self.work_units[(slug, day)] += rate * load * share * self.interval_s


def batch_id(hostname: str, samples: list[dict]) -> str:
    """An id fixed by the batch's content: the same samples give the same id on every run, and
    a batch that grew (today's, seeded again later) gets a new one."""
    first = samples[0]["ts"] if samples else 0
    last = samples[-1]["ts"] if samples else 0
    return str(uuid.uuid5(_NAMESPACE, f"{hostname}|{first}|{last}|{len(samples)}"))


# --- Demo grid series ------------------------------------------------------------------------

SYNTHETIC_GRID_SOURCE = (
    "Synthetic demo series generated by GreenAI seed_demo (not measured data): annual mean"
    " shaped by a daily solar dip, an evening peak and multi-day wind weather"
)


def grid_intensity_series(
    *, start: datetime, end: datetime, annual_gco2e_per_kwh: float
) -> list[tuple[datetime, float]]:
    """Hourly gCO2e/kWh for [start, end), around an annual mean; deterministic per hour."""
    hours = []
    first = int(start.timestamp()) // HOUR_S * HOUR_S
    for ts in range(first, int(end.timestamp()), HOUR_S):
        day = ts // DAY_S
        hour = _local_hour(ts)
        solar = math.exp(-(((hour - 13) / 3.0) ** 2))
        evening = math.exp(-(((hour - 19) / 2.0) ** 2))
        # Weather: a wind index that changes slowly from day to day.
        wind = 0.6 * _smooth_noise(day / 3.0) + 0.4 * _smooth_noise(day / 1.3 + 17)
        factor = 1.0 - 0.25 * solar + 0.12 * evening - 0.28 * wind
        value = annual_gco2e_per_kwh * factor
        hours.append((datetime.fromtimestamp(ts, UTC), round(max(value, 60.0), 1)))
    return hours


def _smooth_noise(x: float) -> float:
    """Value noise in [-1, 1], smooth in x, fixed by x alone."""
    left = math.floor(x)
    a = _day_random("wind", left).uniform(-1, 1)
    b = _day_random("wind", left + 1).uniform(-1, 1)
    t = x - left
    t = t * t * (3 - 2 * t)
    return a + (b - a) * t


# --- Window ----------------------------------------------------------------------------------


def demo_window(*, now: datetime, days: int, interval_s: int = DEFAULT_INTERVAL_S):
    """(start, end): start at the UTC midnight `days` days before today, end just after the
    last whole interval before now, so the newest sample is at most one interval old."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    now_ts = int(now.timestamp())
    last_ts = now_ts // interval_s * interval_s
    start_ts = now_ts // DAY_S * DAY_S - days * DAY_S
    return (
        datetime.fromtimestamp(start_ts, UTC),
        datetime.fromtimestamp(last_ts + 1, UTC),
    )


def default_optimisation_at(*, anchor: datetime, days: int) -> datetime:
    """The optimisation day: a third of the history before the anchor (day 60 of 90), at 10:00
    UTC, so a baseline and an evaluation window both fit in the history."""
    day = anchor.replace(hour=10, minute=0, second=0, microsecond=0)
    return day - timedelta(days=max(1, round(days / 3)))
