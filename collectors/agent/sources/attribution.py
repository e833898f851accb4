"""Per-process attribution: which projects used a GPU, and what share of its energy each gets.

A process names its project in its environment with GREENAI_PROJECT (and GREENAI_PHASE); a Slurm
job's environment (SLURM_JOB_ID, _USER, _ACCOUNT, _PARTITION) becomes a job object, which the
server's attribution rules map to a project. The parsing and share arithmetic are pure; only
ProcessProjects reads /proc/<pid>/environ (which needs root, or the same user, and the host's PID
namespace in a container).
"""

import logging
from pathlib import Path

log = logging.getLogger("greenai.agent")

SHARE_DECIMALS = 6


def parse_environ(raw: bytes) -> dict[str, str]:
    """/proc/<pid>/environ: NUL-separated NAME=value entries."""
    env = {}
    for entry in raw.split(b"\0"):
        name, sep, value = entry.partition(b"=")
        if sep and name:
            env[name.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return env


def project_for_environ(env: dict[str, str]) -> tuple[str, str | None] | None:
    """(project, phase) named by a process environment, or None when it names none.

    Only GREENAI_PROJECT names a project. A Slurm account is not a project slug: tagging with it
    would charge the energy to a project that may not exist and, as a tag, would win over the
    server's attribution rules, which map the job object by account, partition or user instead.
    """
    project = env.get("GREENAI_PROJECT", "").strip()
    if not project:
        return None
    return project, env.get("GREENAI_PHASE", "").strip() or None


# Slurm's job environment, as the job object fields the ingest API takes.
SLURM_JOB_FIELDS = (
    ("SLURM_JOB_ID", "id"),
    ("SLURM_JOB_USER", "user"),
    ("SLURM_JOB_ACCOUNT", "account"),
    ("SLURM_JOB_PARTITION", "partition"),
)

# A job as a hashable value: its (field, value) pairs without the share.
Job = tuple[tuple[str, str], ...]


def slurm_job_for_environ(env: dict[str, str]) -> Job | None:
    """The Slurm job a process runs in (id, user, account, partition), or None outside Slurm."""
    if not env.get("SLURM_JOB_ID", "").strip():
        return None
    return tuple(
        (field, env[name].strip()) for name, field in SLURM_JOB_FIELDS if env.get(name, "").strip()
    )


def merge_jobs(parts: list[tuple[Job | None, float]]) -> list[dict] | None:
    """Job objects from (job or None, share) parts: one per job, shares rounded down like tags."""
    totals: dict[Job, float] = {}
    for job, share in parts:
        if job and share > 0:
            totals[job] = totals.get(job, 0.0) + share
    scale = 10**SHARE_DECIMALS
    jobs = []
    for job, share in sorted(totals.items()):
        jobs.append({**dict(job), "share": min(int(share * scale) / scale, 1.0)})
    return jobs or None


def process_shares(pids: list[int], sm_util: dict[int, float] | None) -> dict[int, float]:
    """Each process's share of the GPU: by SM utilisation where NVML gave it, else equal.

    The processes holding a GPU share all of its energy, idle power included: a job that holds
    a GPU keeps others from using it.
    """
    if not pids:
        return {}
    if sm_util:
        used = {pid: max(sm_util.get(pid, 0.0), 0.0) for pid in pids}
        total = sum(used.values())
        if total > 0:
            return {pid: value / total for pid, value in used.items()}
    return {pid: 1.0 / len(pids) for pid in pids}


def merge_tags(parts: list[tuple[tuple[str, str | None] | None, float]]) -> list[dict] | None:
    """Tags from (project or None, share) parts: one per project and phase, shares rounded down.

    Parts without a project stay unattributed (their share is simply not tagged). Rounding down
    keeps the sum at or below 1, as the ingest API requires.
    """
    totals: dict[tuple[str, str | None], float] = {}
    for project, share in parts:
        if project is not None and share > 0:
            totals[project] = totals.get(project, 0.0) + share
    tags = []
    scale = 10**SHARE_DECIMALS
    for (project, phase), share in sorted(totals.items(), key=lambda item: item[0][0]):
        tag = {"project": project}
        if phase:
            tag["phase"] = phase
        tag["share"] = min(int(share * scale) / scale, 1.0)
        tags.append(tag)
    return tags or None


class ProcessProjects:
    """pid -> (project, phase) and Slurm job, read from /proc/<pid>/environ and cached while
    the pid lives."""

    def __init__(self, proc_root: Path = Path("/proc")):
        self.proc_root = proc_root
        self._cache: dict[int, tuple[tuple[str, str | None] | None, Job | None]] = {}
        self._warned_permission = False
        self.unreadable = 0

    def project_of(self, pid: int) -> tuple[str, str | None] | None:
        return self._lookup(pid)[0]

    def job_of(self, pid: int) -> Job | None:
        return self._lookup(pid)[1]

    def _lookup(self, pid: int) -> tuple[tuple[str, str | None] | None, Job | None]:
        if pid not in self._cache:
            self._cache[pid] = self._read(pid)
        return self._cache[pid]

    def forget_except(self, live_pids: set[int]) -> None:
        # A pid can be reused by another process once it exits: drop the ones no GPU runs now.
        for pid in list(self._cache):
            if pid not in live_pids:
                del self._cache[pid]

    def _read(self, pid: int) -> tuple[tuple[str, str | None] | None, Job | None]:
        path = self.proc_root / str(pid) / "environ"
        try:
            raw = path.read_bytes()
        except PermissionError:
            self.unreadable += 1
            if not self._warned_permission:
                self._warned_permission = True
                log.warning(
                    "cannot read %s (permission denied): GPU processes of other users are not "
                    "attributed to projects. Run the agent as root (and with hostPID in "
                    "Kubernetes).",
                    path,
                )
            return None, None
        except OSError:
            # The process ended or runs in another PID namespace: nothing to attribute.
            return None, None
        env = parse_environ(raw)
        return project_for_environ(env), slurm_job_for_environ(env)
