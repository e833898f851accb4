"""Reads of AI systems: a version's lifecycle footprint (docs/methodology.md, "AI systems: a
version's lifecycle footprint").

Every figure comes from the one selector of a scope's figures (footprint.scope_figures) for a
project over a window, and every unit of work from the one rule of which work records count
(footprint.work.work_by_kind); the arithmetic is in ai_systems.lifecycle_math.
"""

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Q

from assessments.ai_systems import lifecycle_math as lm
from assessments.footprint import footprint_math as fm
from assessments.footprint.ranges_math import Bounds
from assessments.footprint.scope_figures import Scope, scope_figures
from assessments.footprint.selectors import as_utc_datetime
from assessments.footprint.work import work_by_kind
from assessments.models import AiSystem, AiSystemVersion, VersionProject, WorkRecord

Role = VersionProject.Role
SERVING_KINDS = ("requests", "input_tokens", "output_tokens")
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class ProjectPart:
    """One project's part of a version's footprint: its figures over [start, end) times the
    version's share of them (1.0 where it served alone; its output tokens' share where the
    project served several versions at once, day by day)."""

    role: str
    project_slug: str
    project_name: str
    start: datetime
    end: datetime
    share: float
    figures: lm.Figures


@dataclass(frozen=True)
class LineageStep:
    """An ancestor of a version and its own one-off carbon: shown, never added."""

    version: str
    relation: str  # how the next version down the line was made from this one
    one_off_kgco2e: float


@dataclass(frozen=True)
class VersionFootprint:
    """A version's lifecycle footprint over a period [start, end).

    one_off: its own producing projects' figures over their whole windows, whatever the period
        (one_off_parts: each project's). A parent's one-off is in `lineage`, never added.
    serving: its serving projects' figures within the period and their windows, each project
        shared by output tokens with the versions it served at the same time (serving_parts).
        serving.work_units are the requests served (so serving.sci is kgCO2e per request).
    requests, input_tokens, output_tokens: measured (or posted) work of the version in the
        period, of the records with its model_name where its project served several versions.
    requests_to_date: requests served from its first serving day up to the period's end.
    amortisation_requests: max(planned_requests, requests_to_date).
    amortised_one_off_kgco2e_per_request: one_off.total_kgco2e / amortisation_requests.
    energy_kwh_per_1m_output_tokens, kgco2e_per_1k_requests: of serving (IT energy; operational
        + embodied carbon); lifecycle_kgco2e_per_1k_requests: serving plus amortised one-off.
        None where their denominator is zero.
    lineage: the ancestors from the parent up, with how each child was made.
    ranges: the low and high (Bounds, None where the figure is None) of
        amortised_one_off_kgco2e_per_request, energy_kwh_per_1m_output_tokens,
        kgco2e_per_1k_requests and lifecycle_kgco2e_per_1k_requests; one_off's and serving's
        own are in their Figures.ranges (docs/methodology.md, "Ranges").
    """

    system_slug: str
    system_name: str
    version: str
    model_name: str
    relation: str
    parent_version: str | None
    start: datetime
    end: datetime
    one_off: lm.Figures
    one_off_parts: tuple[ProjectPart, ...]
    serving: lm.Figures
    serving_parts: tuple[ProjectPart, ...]
    requests: float
    input_tokens: float
    output_tokens: float
    requests_to_date: float
    planned_requests: int | None
    amortisation_requests: float
    amortised_one_off_kgco2e_per_request: float | None
    energy_kwh_per_1m_output_tokens: float | None
    kgco2e_per_1k_requests: float | None
    lifecycle_kgco2e_per_1k_requests: float | None
    lineage: tuple[LineageStep, ...]
    ranges: dict[str, Bounds | None]

    @property
    def lineage_lines(self) -> list[str]:
        """ "2.0 distilled from 1.0: one-off 12.5 kgCO2e, shown, not added", one per ancestor."""
        lines, child = [], self.version
        for step in self.lineage:
            how = step.relation.replace("_", "-") if step.relation else "made"
            lines.append(
                f"{child} {how} from {step.version}: one-off {step.one_off_kgco2e:.4g} kgCO2e, "
                "shown, not added"
            )
            child = step.version
        return lines


def version_footprint(
    version: AiSystemVersion, *, start: date | datetime, end: date | datetime
) -> VersionFootprint:
    period_start, period_end = as_utc_datetime(start), as_utc_datetime(end)
    if period_end < period_start:
        raise ValueError("end must not be before start")
    one_off_parts = _one_off_parts(version)
    one_off = lm.figures_sum(part.figures for part in one_off_parts)
    serving_parts, work = _serving(version, period_start, period_end, with_figures=True)
    requests = work.get("requests", 0.0)
    serving = lm.figures_sum(part.figures for part in serving_parts)
    serving = serving.counting(requests, "requests")
    requests_to_date = _requests_to_date(version, period_end)
    amortised = lm.amortised_one_off_per_request(
        one_off.total_kgco2e, version.planned_requests, requests_to_date
    )
    output_tokens = work.get("output_tokens", 0.0)
    per_unit = fm.per_thousand_and_million(
        serving.energy_it_kwh, serving.total_kgco2e, requests, output_tokens
    )
    energy, carbon = serving.bounds("energy_it_kwh"), serving.bounds("total_kgco2e")
    lows, highs = (
        fm.per_thousand_and_million(energy.low, carbon.low, requests, output_tokens),
        fm.per_thousand_and_million(energy.high, carbon.high, requests, output_tokens),
    )
    one_off_carbon = one_off.bounds("total_kgco2e")
    amortised_ends = [
        lm.amortised_one_off_per_request(end, version.planned_requests, requests_to_date)
        for end in (one_off_carbon.low, one_off_carbon.high)
    ]
    return VersionFootprint(
        system_slug=version.system.slug,
        system_name=version.system.name,
        version=version.version,
        model_name=version.model_name,
        relation=version.relation,
        parent_version=version.parent.version if version.parent_id else None,
        start=period_start,
        end=period_end,
        one_off=one_off,
        one_off_parts=tuple(one_off_parts),
        serving=serving,
        serving_parts=tuple(serving_parts),
        requests=requests,
        input_tokens=work.get("input_tokens", 0.0),
        output_tokens=work.get("output_tokens", 0.0),
        requests_to_date=requests_to_date,
        planned_requests=version.planned_requests,
        amortisation_requests=lm.amortisation_requests(version.planned_requests, requests_to_date),
        amortised_one_off_kgco2e_per_request=amortised,
        energy_kwh_per_1m_output_tokens=per_unit["kwh_per_1m_output_tokens"],
        kgco2e_per_1k_requests=per_unit["kgco2e_per_1k_requests"],
        lifecycle_kgco2e_per_1k_requests=lm.lifecycle_kgco2e_per_1k_requests(
            serving.total_kgco2e, requests, amortised
        ),
        lineage=_lineage(version),
        ranges={
            "amortised_one_off_kgco2e_per_request": _bounds(*amortised_ends),
            "energy_kwh_per_1m_output_tokens": _bounds(
                lows["kwh_per_1m_output_tokens"], highs["kwh_per_1m_output_tokens"]
            ),
            "kgco2e_per_1k_requests": _bounds(
                lows["kgco2e_per_1k_requests"], highs["kgco2e_per_1k_requests"]
            ),
            "lifecycle_kgco2e_per_1k_requests": lm.lifecycle_bounds(
                carbon, one_off_carbon, requests, version.planned_requests, requests_to_date
            ),
        },
    )


def all_systems() -> list[AiSystem]:
    """Every AI system: every reader of the app's figures sees them all (viewers included)."""
    return list(AiSystem.objects.select_related("team").order_by("name"))


def system_versions(system: AiSystem) -> list[AiSystemVersion]:
    return list(
        system.versions.select_related("parent", "system").prefetch_related("windows__project")
    )


# --- one question each -----------------------------------------------------------------------


def _bounds(low: float | None, high: float | None) -> Bounds | None:
    return None if low is None or high is None else Bounds(low, high)


def _project_figures(project, start: datetime, end: datetime) -> lm.Figures:
    figures = scope_figures(scope=Scope(project=project), start=start, end=end)
    return lm.Figures(
        **{name: getattr(figures, name) for name in lm.SUMMED},
        work_units=figures.work_units,
        work_unit=figures.work_unit,
        coverage=figures.coverage,
        ranges={name: figures.ranges[name] for name in lm.RANGED if figures.ranges.get(name)},
    )


def _one_off_parts(version: AiSystemVersion) -> list[ProjectPart]:
    windows = version.windows.filter(role=Role.PRODUCED_BY).select_related("project")
    return [
        ProjectPart(
            role=Role.PRODUCED_BY,
            project_slug=window.project.slug,
            project_name=window.project.name,
            start=window.start,
            end=window.end,
            share=1.0,
            figures=_project_figures(window.project, window.start, window.end),
        )
        for window in windows.order_by("start", "pk")
    ]


def _kind_units(records, start: datetime, end: datetime) -> dict[str, float]:
    units: dict[str, float] = defaultdict(float)
    for (_, kind), work in work_by_kind(records, start, end).items():
        if kind in SERVING_KINDS:
            units[kind] += work.units
    return units


def _serving(
    version: AiSystemVersion, period_start: datetime, period_end: datetime, *, with_figures: bool
) -> tuple[list[ProjectPart], dict[str, float]]:
    """The version's serving parts and its work per kind over the period."""
    parts: list[ProjectPart] = []
    work: dict[str, float] = defaultdict(float)
    windows = version.windows.filter(role=Role.SERVED_BY).select_related("project")
    for window in windows.order_by("start", "pk"):
        clipped = lm.clip(window.start, window.end, period_start, period_end)
        if clipped is None:
            continue
        project = window.project
        others = list(
            VersionProject.objects.filter(role=Role.SERVED_BY, project=project)
            .exclude(version=version)
            .filter(start__lt=clipped[1])
            .filter(Q(end__isnull=True) | Q(end__gt=clipped[0]))
            .select_related("version")
        )
        cuts = [moment for other in others for moment in (other.start, other.end) if moment]
        records = WorkRecord.objects.filter(project=project)
        for seg_start, seg_end in lm.segments(*clipped, cuts):
            present = [
                other
                for other in others
                if lm.windows_overlap(other.start, other.end, seg_start, seg_end)
            ]
            if not present:
                for kind, units in _kind_units(records, seg_start, seg_end).items():
                    work[kind] += units
                if with_figures:
                    parts.append(
                        _part(project, seg_start, seg_end, 1.0, [(seg_start, seg_end, 1.0)])
                    )
                continue
            own = records.filter(model_name=version.model_name)
            for kind, units in _kind_units(own, seg_start, seg_end).items():
                work[kind] += units
            if with_figures:
                names = {version.pk: version.model_name} | {
                    other.version_id: other.version.model_name for other in present
                }
                slices = _shared_slices(records, names, version.pk, seg_start, seg_end)
                weight = math.fsum((b - a).total_seconds() * s for a, b, s in slices)
                share = weight / (seg_end - seg_start).total_seconds()
                parts.append(_part(project, seg_start, seg_end, share, slices))
    return parts, dict(work)


def _shared_slices(records, names: dict[int, str], own_pk: int, start: datetime, end: datetime):
    """(start, end, the version's share) per UTC day of [start, end): the share of the day's
    output tokens its model_name produced among the versions served then."""
    slices = []
    day_start = datetime.combine(start.date(), datetime.min.time(), tzinfo=start.tzinfo)
    while day_start < end:
        lo, hi = max(start, day_start), min(end, day_start + _DAY)
        tokens = {
            pk: _kind_units(records.filter(model_name=name), lo, hi).get("output_tokens", 0.0)
            for pk, name in names.items()
        }
        slices.append((lo, hi, lm.output_token_shares(tokens, names)[own_pk]))
        day_start += _DAY
    return slices


def _part(project, start, end, share, slices) -> ProjectPart:
    figures = lm.figures_sum(
        _project_figures(project, lo, hi).scaled(slice_share) for lo, hi, slice_share in slices
    )
    return ProjectPart(
        role=Role.SERVED_BY,
        project_slug=project.slug,
        project_name=project.name,
        start=start,
        end=end,
        share=share,
        figures=figures,
    )


def _requests_to_date(version: AiSystemVersion, period_end: datetime) -> float:
    first = version.windows.filter(role=Role.SERVED_BY).order_by("start").first()
    if first is None or first.start >= period_end:
        return 0.0
    _, work = _serving(version, first.start, period_end, with_figures=False)
    return work.get("requests", 0.0)


def _lineage(version: AiSystemVersion) -> tuple[LineageStep, ...]:
    steps, child, seen = [], version, {version.pk}
    while child.parent_id and child.parent_id not in seen:
        parent = AiSystemVersion.objects.get(pk=child.parent_id)
        one_off = lm.figures_sum(part.figures for part in _one_off_parts(parent))
        steps.append(LineageStep(parent.version, child.relation, one_off.total_kgco2e))
        seen.add(parent.pk)
        child = parent
    return tuple(steps)
