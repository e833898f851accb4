"""Attribution rules: a sample's job identity -> the project (and phase) its energy belongs to.

Pure: rules and jobs in, tags out, no Django. The inventory's `attribution_rules` (and the admin
page) hold the rules in order; the first rule whose every pattern matches a job wins. Patterns
are shell-style globs (`nlp-*`, `train-?`), matched case-sensitively, as Kubernetes and Slurm
names are. A job attribute that is missing matches no pattern, so a rule on `namespace` never
catches a Slurm job. docs/architecture.md ("Fleet telemetry") describes the contract.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

# Rule keys -> the job attribute each one matches.
MATCH_KEYS = {
    "namespace": "namespace",
    "pod": "pod",
    "container": "container",
    "user": "user",
    "slurm_account": "account",
    "slurm_partition": "partition",
    "job_id": "id",
}


@dataclass(frozen=True)
class Rule:
    position: int
    match: dict[str, str]
    project: str  # slug
    phase: str = ""


def rule_problem(match) -> str | None:
    """Why a rule's `match` is unusable, or None."""
    if not isinstance(match, dict) or not match:
        return "match needs at least one of: " + ", ".join(MATCH_KEYS)
    unknown = sorted(set(match) - set(MATCH_KEYS))
    if unknown:
        return f"unknown match key {unknown[0]!r} (known: {', '.join(MATCH_KEYS)})"
    for key, pattern in match.items():
        if not isinstance(pattern, str) or not pattern:
            return f"match.{key} must be a non-empty glob pattern"
    return None


def rule_matches(rule: Rule, job: dict) -> bool:
    for key, pattern in rule.match.items():
        value = job.get(MATCH_KEYS[key])
        if value is None or value == "" or not fnmatchcase(str(value), pattern):
            return False
    return True


def first_match(rules: Sequence[Rule], job: dict) -> Rule | None:
    for rule in rules:
        if rule_matches(rule, job):
            return rule
    return None


def job_key(job: dict) -> str:
    """A job's identity across samples: the Kubernetes pod, else the Slurm job id."""
    if job.get("pod"):
        return f"pod:{job.get('namespace') or ''}/{job['pod']}"
    if job.get("id"):
        return f"job:{job['id']}"
    return "unknown"


def tags_for_jobs(jobs: Iterable[dict] | None, rules: Sequence[Rule]) -> list[dict] | None:
    """Tags (as stored on a raw sample) for a sample that names jobs but no project.

    Each job whose rule matches contributes its share to the rule's project; jobs that match no
    rule contribute nothing, so their share stays unallocated. A tag records the rule's position
    and the job it came from, so a change of rules can recompute it and job facts can name the
    job's project.
    """
    tags = []
    for job in jobs or ():
        rule = first_match(rules, job)
        if rule is None:
            continue
        tag = {
            "project": rule.project,
            "share": float(job.get("share", 1.0)),
            "rule": rule.position,
        }
        if rule.phase:
            tag["phase"] = rule.phase
        tag["job"] = job_key(job)
        tags.append(tag)
    return tags or None


def is_rule_tag_list(tags) -> bool:
    """Whether stored tags were derived from rules (and may be recomputed when rules change)."""
    return bool(tags) and all(isinstance(t, dict) and "rule" in t for t in tags)
