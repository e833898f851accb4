"""The demo organisation's decisions: a measured optimisation, a planned one, live recommendations.

Called by assessments.demo_seed after the history is rolled up. Idempotent: optimisations are
found again by project and title, and the recommendations refresh upserts by fingerprint.
"""

import sys
from datetime import datetime

from assessments import decisions
from assessments.models import Optimisation, Project

MEASURED_TITLE = "INT8 quantisation of the chat model"
PLANNED_TITLE = "Distil the evaluation judge model"


def _ensure(project: Project, title: str, **fields) -> Optimisation:
    existing = Optimisation.objects.filter(project=project, title=title).first()
    if existing is not None:
        return existing
    return decisions.optimisation_create(project=project, title=title, **fields)


def seed(
    *,
    project_slug: str,
    applied_at: datetime,
    history_start: datetime | None = None,
    history_end: datetime | None = None,
    now: datetime,
    out=None,
) -> None:
    """Record the demo's optimisations and compute its recommendations as of `now`."""
    out = out or sys.stdout
    project = Project.objects.filter(slug=project_slug).first()
    if project is None:
        out.write(f"decisions demo: no project {project_slug!r}; skipped\n")
        return
    _ensure(
        project,
        MEASURED_TITLE,
        technique="quantisation",
        description=(
            "Post-training INT8 quantisation of the served model (weights and activations), "
            "calibrated on 1,000 logged prompts."
        ),
        applied_on=applied_at.date(),
        status=Optimisation.Status.APPLIED,
        engineering_hours=60,
        other_costs=400,
        latency_p50_ms_before=180,
        latency_p50_ms_after=115,
        latency_p95_ms_before=420,
        latency_p95_ms_after=270,
        quality_metric="answer accuracy on the eval suite (%)",
        quality_before=86.4,
        quality_after=85.9,
    )
    evaluation = Project.objects.filter(slug="model-eval").first()
    if evaluation is not None:
        _ensure(
            evaluation,
            PLANNED_TITLE,
            technique="distillation",
            description="Replace the judge model of the nightly suite by a distilled one.",
            status=Optimisation.Status.PLANNED,
            engineering_hours=80,
            other_costs=0,
        )
    verified = decisions.optimisations_verify(now=now)
    summary = decisions.recommendations_refresh(now=now)
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(summary.kinds.items()))
    out.write(
        f"decisions demo: {verified} optimisation(s) verified; recommendations: {kinds or 'none'}\n"
    )
