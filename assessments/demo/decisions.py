"""The demo organisation's decisions: a measured optimisation, live recommendations, and one
recommendation accepted as a planned optimisation (with its what-if estimate).

Called by assessments.demo.seed after the history is rolled up. Idempotent: optimisations are
found again by project and title, the recommendations refresh upserts by fingerprint, and an
accepted recommendation is not accepted twice.
"""

import sys
from datetime import datetime

from django.contrib.auth import get_user_model

from assessments.decisions import services as decision_services
from assessments.models import Optimisation, Project, Recommendation

MEASURED_TITLE = "INT8 quantisation of the chat model"
POWER_CAP_PROJECT = "llm-pretrain"


def _ensure(project: Project, title: str, **fields) -> Optimisation:
    existing = Optimisation.objects.filter(project=project, title=title).first()
    if existing is not None:
        return existing
    return decision_services.optimisation_create(project=project, title=title, **fields)


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
        engineering_hours=16,
        other_costs=0,
        latency_p50_ms_before=180,
        latency_p50_ms_after=115,
        latency_p95_ms_before=420,
        latency_p95_ms_after=270,
        quality_metric="answer accuracy on the eval suite (%)",
        quality_before=86.4,
        quality_after=85.9,
    )
    verified = decision_services.optimisations_verify(now=now)
    summary = decision_services.recommendations_refresh(now=now)
    _accept_power_cap(out)
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(summary.kinds.items()))
    out.write(
        f"decisions demo: {verified} optimisation(s) verified; recommendations: {kinds or 'none'}\n"
    )


def _accept_power_cap(out) -> None:
    """Show the accept flow: the pre-training power-cap recommendation becomes a planned
    optimisation with its what-if estimate (once; a later seeding finds it accepted)."""
    recommendation = Recommendation.objects.filter(
        kind=Recommendation.Kind.POWER_CAP,
        project__slug=POWER_CAP_PROJECT,
        status=Recommendation.Status.OPEN,
    ).first()
    if recommendation is None:
        return
    admin = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    optimisation = decision_services.recommendation_accept(
        recommendation=recommendation, user=admin
    )
    decision_services.optimisation_update(
        optimisation=optimisation,
        title="Cap the pre-training GPUs at 75% of their power limit",
        engineering_hours=8,
    )
    out.write(f"decisions demo: accepted '{recommendation.title}' as a planned optimisation\n")
