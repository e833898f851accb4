"""Versions side by side: each version's figures from version_footprint, one row per version,
for the comparison page, its CSV and the energy-versus-quality chart (docs/methodology.md,
"AI systems: versions side by side").

Nothing here sums or splits a footprint: the rows read a VersionFootprint; the serving cost
per 1,000 requests divides the serving cost by the same requests kgco2e_per_1k_requests does
(footprint_math.cost_per_1k_requests).
"""

from dataclasses import dataclass
from datetime import date

from assessments.ai_systems.selectors import version_footprint
from assessments.footprint.footprint_math import cost_per_1k_requests
from assessments.footprint.ranges_math import Bounds
from assessments.models import AiSystem, AiSystemVersion


@dataclass(frozen=True)
class Comparison:
    system: AiSystem
    others: tuple[AiSystem, ...]  # other models of its team, compared beside it
    start: date
    end: date
    rows: tuple[dict, ...]


def comparable_systems(system: AiSystem):
    """The models whose versions may stand beside the system's: those of the same team."""
    return AiSystem.objects.filter(team_id=system.team_id).exclude(pk=system.pk).order_by("name")


def version_row(version: AiSystemVersion, *, start: date, end: date) -> dict:
    footprint = version_footprint(version, start=start, end=end)
    serving_cost = footprint.serving.bounds("cost")
    return {
        "model": footprint.system_slug,
        "model_title": footprint.system_name,
        "version": footprint.version,
        "label": f"{footprint.system_slug} {footprint.version}",
        "parent": footprint.parent_version or "",
        "relation": footprint.relation,
        "requests": footprint.requests,
        "output_tokens": footprint.output_tokens,
        "energy_kwh_per_1m_output_tokens": footprint.energy_kwh_per_1m_output_tokens,
        "kgco2e_per_1k_requests": footprint.kgco2e_per_1k_requests,
        "lifecycle_kgco2e_per_1k_requests": footprint.lifecycle_kgco2e_per_1k_requests,
        "quality_metric": version.quality_metric,
        "quality_value": version.quality_value,
        "latency_p50_ms": version.latency_p50_ms,
        "latency_p95_ms": version.latency_p95_ms,
        "serving_cost": footprint.serving.cost,
        "cost_per_1k_requests": cost_per_1k_requests(footprint.serving.cost, footprint.requests),
        "one_off_cost": footprint.one_off.cost,
        "one_off_kgco2e": footprint.one_off.total_kgco2e,
        "serving_kgco2e": footprint.serving.total_kgco2e,
        # The figures' ranges, which the page's cells and the CSV's low and high columns show.
        "ranges": {
            **footprint.ranges,
            "serving_cost": serving_cost,
            "cost_per_1k_requests": _per_1k_bounds(serving_cost, footprint.requests),
            "one_off_cost": footprint.one_off.bounds("cost"),
        },
    }


def _per_1k_bounds(bounds: Bounds, requests: float) -> Bounds | None:
    """A cost's bounds per 1,000 requests (requests are counted, not uncertain)."""
    low, high = (cost_per_1k_requests(end, requests) for end in (bounds.low, bounds.high))
    return None if low is None else Bounds(low, high)


def scope_version_rows(*, team=None, start: date, end: date) -> list[dict]:
    """Every version of the team's models (all teams' without one), as version_row: the
    monthly report's energy-against-quality chart."""
    versions = AiSystemVersion.objects.select_related("system", "parent").order_by(
        "system__name", "created_at", "pk"
    )
    if team is not None:
        versions = versions.filter(system__team=team)
    return [version_row(version, start=start, end=end) for version in versions]


def version_comparison(system: AiSystem, *, others=(), start: date, end: date) -> Comparison:
    """The system's versions, then those of the other models, oldest first within each."""
    rows = []
    for owner in (system, *others):
        for version in owner.versions.select_related("system", "parent").order_by(
            "created_at", "pk"
        ):
            rows.append(version_row(version, start=start, end=end))
    return Comparison(system, tuple(others), start, end, tuple(rows))
