"""Decisions writes: optimisations created and updated, verified when their evaluation is over,
and recommendations refreshed from the rules, accepted or dismissed.

Every service is `<entity>_<action>(*, ...)`; what they read comes from
assessments.decisions.selectors.
"""

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from assessments.decisions import recommendation_rules as rules
from assessments.decisions import roi
from assessments.decisions.selectors import (
    optimisation_measure,
    recommendation_candidates,
    utc_today,
)
from assessments.models import (
    Optimisation,
    Organisation,
    Project,
    Recommendation,
    Technique,
)

logger = logging.getLogger(__name__)

_REFRESH_LOCK_KEY = 7_401_305  # PostgreSQL advisory lock: refreshes never interleave

# What an accepted recommendation becomes.
KIND_TECHNIQUE = {
    Recommendation.Kind.IDLE_GPU: Technique.OTHER,
    Recommendation.Kind.LOW_UTILISATION: Technique.OTHER,
    Recommendation.Kind.POWER_CAP: Technique.POWER_CAP,
    Recommendation.Kind.CARBON_AWARE_TIMING: Technique.CARBON_AWARE,
    Recommendation.Kind.SITE_CHOICE: Technique.OTHER,
    Recommendation.Kind.OPTIMISATION_CANDIDATE: Technique.QUANTISATION,
    Recommendation.Kind.HARDWARE_LIFETIME: Technique.OTHER,
}


# --- Optimisations ------------------------------------------------------------------------------

_OPTIMISATION_FIELDS = {
    "technique",
    "title",
    "description",
    "applied_on",
    "status",
    "engineering_hours",
    "hourly_rate",
    "other_costs",
    "baseline_days",
    "evaluation_days",
    "latency_p50_ms_before",
    "latency_p50_ms_after",
    "latency_p95_ms_before",
    "latency_p95_ms_after",
    "quality_metric",
    "quality_before",
    "quality_after",
    "version",
}
# Techniques that produce a new version of a model (a smaller model: "other").
VERSION_TECHNIQUES = frozenset(
    {
        Technique.DISTILLATION,
        Technique.QUANTISATION,
        Technique.PRUNING,
        Technique.LOW_RANK,
        Technique.OTHER,
    }
)


def _validate_optimisation(optimisation: Optimisation) -> None:
    errors = {}
    if optimisation.status != Optimisation.Status.PLANNED and optimisation.applied_on is None:
        errors["applied_on"] = "An applied or verified optimisation needs the date it was applied."
    for name in ("engineering_hours", "other_costs", "hourly_rate"):
        value = getattr(optimisation, name)
        if value is not None and (value < 0 or not math.isfinite(value)):
            errors[name] = "Must be a finite number of zero or more."
    for name in ("baseline_days", "evaluation_days"):
        value = getattr(optimisation, name)
        if value is None or not 1 <= value <= 365:
            errors[name] = "Must be between 1 and 365 days."
    version = optimisation.version
    if version is not None:
        if optimisation.technique not in VERSION_TECHNIQUES:
            errors["version"] = (
                f"{optimisation.get_technique_display()} produces no new version of a model; "
                "link a version to a distillation, quantisation, pruning, low-rank "
                "factorisation or other (a smaller model)."
            )
        elif version.system.team_id != optimisation.project.team_id:
            errors["version"] = (
                f"Version {version} belongs to another team than project "
                f"{optimisation.project.slug}."
            )
    if errors:
        raise ValidationError(errors)
    optimisation.full_clean(exclude=["project", "created_by"])


def optimisation_create(*, project: Project, created_by=None, **fields) -> Optimisation:
    unknown = set(fields) - _OPTIMISATION_FIELDS
    if unknown:
        raise TypeError(f"unknown optimisation fields: {', '.join(sorted(unknown))}")
    optimisation = Optimisation(project=project, created_by=created_by, **fields)
    if not optimisation.title:
        optimisation.title = f"{optimisation.get_technique_display()} on {project.name}"
    _validate_optimisation(optimisation)
    optimisation.save()
    return optimisation


def optimisation_update(*, optimisation: Optimisation, **fields) -> Optimisation:
    unknown = set(fields) - _OPTIMISATION_FIELDS - {"project"}
    if unknown:
        raise TypeError(f"unknown optimisation fields: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(optimisation, name, value)
    _validate_optimisation(optimisation)
    optimisation.save()
    return optimisation


def optimisations_verify(*, now: datetime | None = None) -> int:
    """Applied optimisations whose evaluation window is over and conclusive become verified."""
    today = utc_today(now)
    verified = 0
    organisation = Organisation.get()
    for optimisation in Optimisation.objects.filter(
        status=Optimisation.Status.APPLIED, applied_on__isnull=False
    ):
        _, (_, evaluation_end) = roi.windows(
            optimisation.applied_on, optimisation.baseline_days, optimisation.evaluation_days
        )
        if evaluation_end > today:
            continue
        measured = optimisation_measure(
            optimisation=optimisation, now=now, organisation=organisation, with_break_even=False
        ).measured
        if measured is not None and measured.conclusive:
            Optimisation.objects.filter(pk=optimisation.pk).update(
                status=Optimisation.Status.VERIFIED
            )
            verified += 1
    return verified


# --- Recommendations: storing and deciding -----------------------------------------------------


@dataclass
class RefreshSummary:
    created: int = 0
    updated: int = 0
    reopened: int = 0
    kept_dismissed: int = 0
    removed: int = 0
    kinds: dict = field(default_factory=dict)


def _apply_candidate(recommendation: Recommendation, candidate, period, now) -> None:
    recommendation.kind = candidate.kind
    recommendation.target = candidate.target[:200]
    recommendation.title = candidate.title[:300]
    recommendation.action = candidate.action
    recommendation.evidence = candidate.evidence
    recommendation.evidence_digest = rules.evidence_digest(candidate.evidence)
    recommendation.period_start = period.start
    recommendation.period_end = period.end
    recommendation.monthly_facility_energy_kwh = candidate.monthly_facility_energy_kwh
    recommendation.monthly_cost = candidate.monthly_cost
    recommendation.monthly_kgco2e = candidate.monthly_kgco2e
    recommendation.confidence = candidate.confidence
    recommendation.project_id = candidate.project_id
    recommendation.host_id = candidate.host_id
    recommendation.device_id = candidate.device_id
    recommendation.updated_at = now


def recommendations_refresh(*, now: datetime | None = None) -> RefreshSummary:
    """Recompute every recommendation and upsert by fingerprint.

    Open ones are updated (or removed when the data no longer supports them); accepted ones are
    left to their optimisation; dismissed ones stay dismissed unless their saving changed
    materially (rules.changed_materially), which reopens them with the new evidence.
    """
    now = now or timezone.now()
    period, candidates = recommendation_candidates(now=now)
    summary = RefreshSummary()
    with transaction.atomic():
        if settings.DATABASE_IS_POSTGRES:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_REFRESH_LOCK_KEY])
        existing = {r.fingerprint: r for r in Recommendation.objects.select_for_update()}
        seen = set()
        for candidate in candidates:
            if candidate.fingerprint in seen:
                continue
            seen.add(candidate.fingerprint)
            summary.kinds[candidate.kind] = summary.kinds.get(candidate.kind, 0) + 1
            recommendation = existing.get(candidate.fingerprint)
            if recommendation is None:
                recommendation = Recommendation(fingerprint=candidate.fingerprint, created_at=now)
                _apply_candidate(recommendation, candidate, period, now)
                recommendation.save()
                summary.created += 1
            elif recommendation.status == Recommendation.Status.OPEN:
                _apply_candidate(recommendation, candidate, period, now)
                recommendation.save()
                summary.updated += 1
            elif recommendation.status == Recommendation.Status.DISMISSED:
                old = (
                    recommendation.monthly_facility_energy_kwh,
                    recommendation.monthly_cost,
                    recommendation.monthly_kgco2e,
                )
                new = (
                    candidate.monthly_facility_energy_kwh,
                    candidate.monthly_cost,
                    candidate.monthly_kgco2e,
                )
                if rules.changed_materially(old, new):
                    reason = recommendation.dismissed_reason
                    _apply_candidate(recommendation, candidate, period, now)
                    recommendation.evidence = {
                        **candidate.evidence,
                        "previously_dismissed_because": reason,
                    }
                    recommendation.status = Recommendation.Status.OPEN
                    recommendation.decided_by = None
                    recommendation.decided_at = None
                    recommendation.save()
                    summary.reopened += 1
                else:
                    summary.kept_dismissed += 1
        stale = [
            r.pk
            for fingerprint, r in existing.items()
            if fingerprint not in seen and r.status == Recommendation.Status.OPEN
        ]
        summary.removed = Recommendation.objects.filter(pk__in=stale).delete()[0]
    logger.info("recommendations refreshed: %s", summary)
    return summary


def recommendation_accept(
    *, recommendation: Recommendation, user, project: Project | None = None
) -> Optimisation:
    """Accepting makes a planned optimisation, later measured like any other."""
    if recommendation.status != Recommendation.Status.OPEN:
        raise ValidationError(
            f"Only an open recommendation can be accepted, not a {recommendation.status} one."
        )
    project = recommendation.project or project
    if project is None:
        raise ValidationError("Choose the project the optimisation belongs to.")
    with transaction.atomic():
        optimisation = optimisation_create(
            project=project,
            created_by=user,
            technique=KIND_TECHNIQUE.get(recommendation.kind, Technique.OTHER),
            title=recommendation.title[:200],
            description=(
                f"From the recommendation '{recommendation.title}'.\n{recommendation.action}"
            ),
            status=Optimisation.Status.PLANNED,
        )
        recommendation.status = Recommendation.Status.ACCEPTED
        recommendation.optimisation = optimisation
        recommendation.project = project
        recommendation.decided_by = user
        recommendation.decided_at = timezone.now()
        recommendation.save()
    return optimisation


def recommendation_dismiss(*, recommendation: Recommendation, user, reason: str) -> Recommendation:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this recommendation is dismissed."})
    if recommendation.status != Recommendation.Status.OPEN:
        raise ValidationError(
            f"Only an open recommendation can be dismissed, not a {recommendation.status} one."
        )
    recommendation.status = Recommendation.Status.DISMISSED
    recommendation.dismissed_reason = reason
    recommendation.decided_by = user
    recommendation.decided_at = timezone.now()
    recommendation.save()
    return recommendation
