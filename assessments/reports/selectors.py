"""The monthly report's reads: the month's figures and rows gathered from the stored hourly facts.

The numbers come from the same selectors as the footprint API and the dashboards. Everything is
read from the stored hourly facts, which keep the factor values they were computed with, so
regenerating a past month gives the same numbers; the report lists those factor values and a
digest of them.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db.models import Avg, Count, Max, Min, Q

from assessments.dashboards import selectors as dashboards
from assessments.decisions import selectors as decision_selectors
from assessments.footprint.range_words import narrowing_sentences, whose_figure
from assessments.footprint.ranges_math import Driver
from assessments.footprint.selectors import (
    footprint,  # scope_figures under the read API's names, as the API answers
)
from assessments.models import (
    AiSystemVersion,
    HourlyCodeCarbonFact,
    HourlyDeviceFact,
    HourlyProjectFact,
    Organisation,
    Project,
    Team,
)
from assessments.organisation import factors
from assessments.reports import report_summary as summary
from assessments.watch.selectors import budgets_of_month
from collectors.models import Device, Host, IngestRejection

TOP_RECOMMENDATIONS = 10


@dataclass(frozen=True)
class Window:
    month: date
    start: datetime
    end: datetime  # exclusive

    @property
    def hours(self) -> int:
        return int((self.end - self.start).total_seconds() // 3600)


def month_window(month: date) -> Window:
    first = month.replace(day=1)
    start = datetime(first.year, first.month, 1, tzinfo=UTC)
    following = summary.shift_month(first, 1)
    return Window(first, start, datetime(following.year, following.month, 1, tzinfo=UTC))


def previous_month(today: date) -> date:
    return summary.shift_month(today.replace(day=1), -1)


def report_context(*, window: Window, team: Team | None, generated_at: datetime) -> dict:
    """Everything the template shows, formatted, from the month's stored facts."""
    organisation = Organisation.get()
    currency = organisation.currency
    scope = f"team {team.name}" if team else organisation.name
    current = footprint(start=window.start, end=window.end, team=team)
    previous_window = month_window(summary.shift_month(window.month, -1))
    last_year_window = month_window(summary.shift_month(window.month, -12))
    previous = footprint(start=previous_window.start, end=previous_window.end, team=team)
    last_year = footprint(start=last_year_window.start, end=last_year_window.end, team=team)
    has_data = summary.has_data(current)
    projects = project_rows(window=window, team=team, currency=currency) if has_data else []
    # One SCI for the whole scope only where its projects count one unit of work (scope_figures
    # leaves it null otherwise); SCI is then given per project.
    same_unit = current["sci"] is not None

    context = {
        "organisation": organisation,
        "team": team,
        "scope": scope,
        "month": window.month,
        "month_title": summary.month_title(window.month),
        "previous_title": summary.month_title(previous_window.month),
        "last_year_title": summary.month_title(last_year_window.month),
        "period": f"{window.start:%-d %B %Y} to {window.end - timedelta(days=1):%-d %B %Y} (UTC)",
        "generated_at": generated_at,
        "generated_stamp": f"{generated_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        "currency": currency,
        "footprint": current,
        "has_data": has_data,
        "summary_sentences": summary.summary_sentences(
            scope=scope,
            month=window.month,
            current=current,
            previous=previous,
            last_year=last_year,
            currency=currency,
        ),
        "key_figures": _key_figures(current, currency) if has_data else [],
        "narrowing": narrowing(current, team_name=team.name if team else None),
        "codecarbon": _codecarbon_lines(current),
        "comparison_rows": (
            summary.comparison_rows(current, previous, last_year, currency, include_sci=same_unit)
            if has_data
            else []
        ),
        "coverage_warning": (
            summary.coverage_statement(current.get("coverage")) if has_data else None
        ),
        "factors_used": factors_used(window=window, team=team),
        "factor_sources": dashboards.factor_sources(),
        "factor_defaults": _factor_defaults(),
        "team_rows": [],
        "project_rows": [],
        "hardware_rows": [],
        "charts": {},
    }
    if has_data:
        hosts = _hosts_of_month(window=window, team=team)
        context.update(_team_table(window=window, current=current, currency=currency, team=team))
        context.update(
            {
                "project_rows": projects,
                "hardware_rows": hardware_rows(hosts=hosts),
                "hosts": hosts,
            }
        )
    # Sections 1-3 and 5 exist only for a month with data; the rest are numbered after them.
    context["sections"] = (
        {"optimisations": 4, "data_quality": 6}
        if has_data
        else {"optimisations": 1, "data_quality": 2}
    )
    context["optimisation_rows"] = optimisation_rows(window=window, team=team, currency=currency)
    context["recommendation_rows"] = recommendation_rows(team=team, currency=currency)
    context["data_quality"] = data_quality(window=window, team=team, current=current)
    context["ai_system_rows"] = ai_system_rows(window=window, team=team, currency=currency)
    context["sections"]["ai_systems"] = context["sections"]["data_quality"] + 1
    context["budget_rows"] = budget_rows(window=window, team=team)
    return context


def ai_system_rows(*, window: Window, team: Team | None, currency: str) -> list[dict]:
    """Each version of the scope's AI systems: one-off (whole), serving in the month, the
    amortised one-off and lifecycle carbon per 1,000 requests, and its lineage, from the one
    selector of a version's footprint (docs/methodology.md, "AI systems")."""
    from assessments.ai_systems.selectors import version_footprint

    versions = AiSystemVersion.objects.select_related("system", "parent").order_by(
        "system__name", "created_at", "pk"
    )
    if team is not None:
        versions = versions.filter(system__team=team)
    number = summary.format_number
    rows = []
    for version in versions:
        result = version_footprint(version, start=window.start, end=window.end)
        rows.append(
            {
                "system": version.system.name,
                "version": version.version,
                "one_off_kgco2e": number(result.one_off.total_kgco2e),
                "serving_kgco2e": number(result.serving.total_kgco2e),
                "serving_cost": f"{number(result.serving.cost, 2)} {currency}",
                "requests": number(result.requests, 0),
                "kwh_per_1m_output_tokens": number(result.energy_kwh_per_1m_output_tokens),
                "kgco2e_per_1k_requests": number(result.kgco2e_per_1k_requests),
                "amortised_per_request": number(result.amortised_one_off_kgco2e_per_request),
                "lifecycle_kgco2e_per_1k_requests": number(result.lifecycle_kgco2e_per_1k_requests),
                "lineage": result.lineage_lines,
            }
        )
    return rows


BUDGET_STATUS_WORDS = {"over": "Over budget", "at_risk": "At risk", "on_track": "On track"}


def budget_rows(*, window: Window, team: Team | None) -> list[dict]:
    """Budget against actual: each budget's period containing the month, as seen at its end."""
    rows = []
    views = budgets_of_month(month_start=window.start, month_end=window.end, team=team)
    for view in views:
        standing, unit = view.standing, view.unit
        rows.append(
            {
                "scope": view.budget.scope,
                "metric": view.budget.get_metric_display(),
                "period": (
                    f"{view.period_start:%-d %b %Y} to "
                    f"{view.period_end - timedelta(days=1):%-d %b %Y}"
                ),
                "limit": f"{summary.format_number(view.budget.limit, 1)} {unit}",
                "used": f"{summary.format_number(standing.used, 1)} {unit}",
                "forecast": f"{summary.format_number(standing.forecast.value, 1)} {unit}",
                "range": (
                    f"{summary.format_number(standing.forecast.low, 1)} to "
                    f"{summary.format_number(standing.forecast.high, 1)}"
                ),
                "status": BUDGET_STATUS_WORDS[standing.status],
                "as_of": f"{view.as_of:%Y-%m-%d %H:%M} UTC",
            }
        )
    return rows


def _key_figures(current: dict, currency: str) -> list[dict]:
    ranges = current.get("ranges") or {}

    def quantity(name: str, unit: str) -> str:
        return summary.format_quantity(current.get(name), unit, bounds=ranges.get(name))

    return [
        {"label": "IT energy", "value": quantity("energy_kwh", "kWh")},
        {"label": "Facility energy", "value": quantity("facility_energy_kwh", "kWh")},
        {"label": "Total carbon", "value": quantity("total_kgco2e", "kgCO2e")},
        {
            "label": "Energy cost",
            "value": summary.format_money(current.get("cost"), currency, ranges.get("cost")),
        },
    ]


def narrowing(figures: dict, *, team_name: str | None = None) -> list[str]:
    """What would narrow the scope's total carbon most, in words (footprint.range_words)."""
    drivers = [Driver(**driver) for driver in figures.get("range_drivers") or ()]
    return narrowing_sentences(drivers, whose=whose_figure(team_name=team_name))


def _codecarbon_lines(current: dict) -> dict | None:
    """The part of the figures CodeCarbon reported (docs/codecarbon.md); None without any."""
    reported = current.get("codecarbon") or {}
    if not reported.get("runs"):
        return None
    return {
        "energy": summary.format_quantity(reported["energy_kwh"], "kWh"),
        "carbon": summary.format_quantity(reported["operational_kgco2e"], "kgCO2e"),
        "overlap": summary.format_quantity(reported["overlap_energy_kwh"], "kWh"),
        "runs": reported["runs"],
    }


def _fact_filter(window: Window, team: Team | None) -> Q:
    condition = Q(hour__gte=window.start, hour__lt=window.end)
    return condition & Q(team=team) if team else condition


def _with_facts(name: str, window: Window, team: Team | None) -> set[int]:
    """Ids of the teams or projects with facts in the month: measured by an agent or reported
    by CodeCarbon (both count in their figures)."""
    condition = _fact_filter(window, team) & Q(**{f"{name}__isnull": False})
    return {
        pk
        for model in (HourlyProjectFact, HourlyCodeCarbonFact)
        for pk in model.objects.filter(condition).values_list(name, flat=True).distinct().order_by()
    }


_ROW_METRICS = (
    "energy_kwh",
    "facility_energy_kwh",
    "operational_kgco2e",
    "embodied_kgco2e",
    "total_kgco2e",
    "cost",
    "gpu_hours",
)


def _team_table(*, window: Window, current: dict, currency: str, team: Team | None) -> dict:
    """Per-team rows, the unallocated remainder (total minus the teams) and the total row."""
    if team is not None:
        return {"team_rows": [], "unallocated_row": None, "total_row": None}
    rows, team_figures = team_rows(window=window, currency=currency)
    remainder = {
        key: (current.get(key) or 0) - sum(figures.get(key) or 0 for figures in team_figures)
        for key in _ROW_METRICS
    }
    # Only a remainder above rounding noise is shown as unallocated.
    has_remainder = abs(remainder["energy_kwh"]) > 1e-9 or abs(remainder["embodied_kgco2e"]) > 1e-9
    return {
        "team_rows": rows,
        "unallocated_row": _footprint_row("Unallocated", remainder, currency)
        if has_remainder
        else None,
        "total_row": _footprint_row("Organisation total", current, currency),
    }


def team_rows(*, window: Window, currency: str) -> tuple[list[dict], list[dict]]:
    team_ids = _with_facts("team", window, None)
    rows, all_figures = [], []
    for team in Team.objects.filter(pk__in=team_ids).order_by("name"):
        figures = footprint(start=window.start, end=window.end, team=team)
        all_figures.append(figures)
        row = _footprint_row(team.name, figures, currency)
        row["narrowing"] = narrowing(figures, team_name=team.name)
        rows.append(row)
    rows.sort(key=lambda row: -row["sort_key"])
    return rows, all_figures


def project_rows(*, window: Window, team: Team | None, currency: str) -> list[dict]:
    project_ids = _with_facts("project", window, team)
    rows = []
    projects = Project.objects.filter(pk__in=project_ids).select_related("team")
    for project in projects:
        figures = footprint(start=window.start, end=window.end, project=project)
        row = _footprint_row(project.name, figures, currency)
        row["team"] = project.team.name
        row["phase"] = project.get_phase_display()
        row["work_unit"] = project.work_unit or "units"
        row["has_units"] = bool(figures.get("work_units"))
        sci = figures.get("sci")
        sci_bounds = (figures.get("ranges") or {}).get("sci")
        grams = sci_bounds and {"low": sci_bounds["low"] * 1000, "high": sci_bounds["high"] * 1000}
        row["sci"] = (
            summary.format_quantity(
                sci * 1000, f"gCO2e per {summary.singular(row['work_unit'])}", bounds=grams
            )
            if sci is not None
            else "no units recorded"
        )
        rows.append(row)
    rows.sort(key=lambda row: -row["sort_key"])
    return rows


def _footprint_row(name: str, figures: dict, currency: str) -> dict:
    number = summary.format_number
    ranges = figures.get("ranges") or {}

    def ranged(key: str, decimals: int | None = None) -> str:
        """The figure and its range, '1,234 (987–1,610)' (the unit is in the header)."""
        value = figures.get(key)
        return summary.with_bounds(number(value, decimals), value, ranges.get(key), decimals)

    return {
        "name": name,
        "sort_key": figures.get("total_kgco2e") or 0,
        "energy_kwh": ranged("energy_kwh"),
        "facility_energy_kwh": ranged("facility_energy_kwh"),
        "operational_kgco2e": ranged("operational_kgco2e"),
        "embodied_kgco2e": ranged("embodied_kgco2e"),
        "total_kgco2e": ranged("total_kgco2e"),
        "cost": ranged("cost", 2),
        "gpu_hours": number(figures.get("gpu_hours")),
        "work_units": number(figures.get("work_units")) if figures.get("work_units") else "none",
    }


def hardware_rows(*, hosts: list[dict]) -> list[dict]:
    """Per host (from the hardware page's selector): GPUs, age against lifetime, utilisation,
    idle energy, operational against embodied carbon."""
    rows = []
    for host in hosts:
        age, lifetime = host["age_years"], host["lifetime_years"]
        if age is not None and lifetime:
            age_text = f"{age:.1f} of {lifetime:g} years"
        elif age is not None:
            age_text = f"{age:.1f} years (lifetime not set)"
        else:
            age_text = "purchase date unknown"
        measured = bool(host["energy_it_kwh"] or host["gpu_hours"])
        util = host["util_mean_pct"]
        share = host["embodied_share"]
        rows.append(
            {
                "host": host["label"],
                "site": host["site"] or "no site",
                "gpus": host["gpus"],
                "models": ", ".join(host.get("models", [])),
                "age": age_text,
                "utilisation": summary.format_percent(util / 100) if util is not None else "n/a",
                "energy_kwh": summary.format_number(host["energy_it_kwh"]) if measured else "-",
                "idle_kwh": summary.format_number(host["idle_energy_it_kwh"]) if measured else "-",
                "operational_kgco2e": (
                    summary.format_number(host["operational_kgco2e"]) if measured else "-"
                ),
                "embodied_kgco2e": (
                    summary.format_number(host["embodied_kgco2e"]) if measured else "-"
                ),
                "embodied_share": summary.format_percent(share) if share is not None else "n/a",
                "measured": measured,
            }
        )
    return rows


def optimisation_rows(*, window: Window, team: Team | None, currency: str) -> list[dict]:
    """Every optimisation with its measured return as of the month's end (decisions' selector),
    or, for one not yet measured, its what-if estimate from published savings ranges."""
    rows = []
    for result in decision_selectors.optimisation_returns(
        now=window.end, team=team, with_break_even=False
    ):
        optimisation = result.optimisation
        row = {
            "title": optimisation.title,
            "project": optimisation.project.name,
            "technique": optimisation.get_technique_display(),
            "status": optimisation.get_status_display(),
            "applied_on": optimisation.applied_on,
            "investment": summary.format_money(result.investment, currency),
            "basis": "not measured",
            "notes": list(result.notes),
        }
        if result.has_measured_savings:
            measured = result.measured
            row.update(
                basis="measured",
                monthly_facility_energy=summary.format_number(measured.monthly_facility_energy_kwh),
                monthly_kgco2e=summary.format_number(measured.monthly_kgco2e),
                monthly_cost=summary.format_number(measured.monthly_cost, 2),
                payback=_payback_text(measured.payback_months, measured.monthly_cost),
            )
            row["notes"] += list(measured.warnings)
        elif result.estimate is not None:
            estimate = result.estimate
            row.update(
                basis="estimate",
                monthly_facility_energy=_range_text(estimate.monthly_facility_energy_kwh),
                monthly_kgco2e=_range_text(estimate.monthly_kgco2e),
                monthly_cost=_range_text(estimate.monthly_cost, 2),
                payback=(
                    f"{_range_text(estimate.payback_months, 1)} months"
                    if estimate.payback_months
                    else "no saving expected"
                ),
            )
            row["notes"].append(
                f"What-if estimate ({estimate.saving.label}), source: {estimate.saving.source}"
            )
        else:
            row.update(
                monthly_facility_energy="-", monthly_kgco2e="-", monthly_cost="-", payback="-"
            )
        rows.append(row)
    return rows


def _payback_text(months: float | None, monthly_cost_saved: float | None) -> str:
    if months is not None:
        return f"{summary.format_number(months, 1)} months"
    if monthly_cost_saved is not None and monthly_cost_saved <= 0:
        return "never: it costs more per unit than before"
    return "not measurable yet"


def _range_text(value, decimals: int | None = None) -> str:
    low = summary.format_number(value.low, decimals)
    high = summary.format_number(value.high, decimals)
    return low if low == high else f"{low} to {high}"


def recommendation_rows(*, team: Team | None, currency: str) -> list[dict]:
    """The open recommendations with the largest estimated monthly saving (as of generation)."""
    return [
        {
            "kind": recommendation.get_kind_display(),
            "title": recommendation.title,
            "target": recommendation.target,
            "action": recommendation.action,
            "confidence": recommendation.get_confidence_display(),
            "facility_energy": summary.format_number(recommendation.monthly_facility_energy_kwh),
            "kgco2e": summary.format_number(recommendation.monthly_kgco2e),
            "cost": summary.format_number(recommendation.monthly_cost, 2),
        }
        for recommendation in decision_selectors.top_recommendations(TOP_RECOMMENDATIONS, team=team)
    ]


def data_quality(*, window: Window, team: Team | None, current: dict) -> dict:
    """Coverage, days without data, rejected batches, unallocated energy and factor notes."""
    facts = HourlyDeviceFact.objects.filter(hour__gte=window.start, hour__lt=window.end)
    if team:
        facts = facts.filter(
            device__in=HourlyProjectFact.objects.filter(_fact_filter(window, team)).values("device")
        )
    hours_with_data = {
        hour.astimezone(UTC).date()
        for hour in facts.filter(measured_seconds__gt=0).values_list("hour", flat=True).distinct()
    }
    days = [
        window.month + timedelta(days=offset) for offset in range((window.end - window.start).days)
    ]
    missing_days = [day for day in days if day not in hours_with_data]

    rejections = IngestRejection.objects.filter(at__gte=window.start, at__lt=window.end)
    if team:
        rejections = rejections.filter(collector__team=team)
    rejected = list(
        rejections.values("reason", "status").annotate(count=Count("id")).order_by("-count")
    )
    notes = {}
    for fact_notes in facts.exclude(factor_notes=[]).values_list("factor_notes", flat=True):
        for note in fact_notes or []:
            notes[str(note)] = notes.get(str(note), 0) + 1

    unallocated = None
    if team is None and summary.has_data(current):
        energy = current.get("unallocated_energy_kwh")
        total = current.get("energy_kwh") or 0
        unallocated = {
            "energy": summary.format_quantity(energy, "kWh"),
            "share": (
                summary.format_percent(energy / total) if energy is not None and total else "n/a"
            ),
            "embodied": summary.format_quantity(
                current.get("unallocated_embodied_kgco2e"), "kgCO2e"
            ),
        }
    return {
        "coverage": summary.format_percent(current.get("coverage"))
        if summary.has_data(current)
        else summary.NOT_AVAILABLE,
        "device_count": facts.values("device").distinct().count(),
        "days_in_month": len(days),
        "missing_days": _day_ranges(missing_days),
        "missing_day_count": len(missing_days),
        "rejected": rejected,
        "rejected_total": sum(row["count"] for row in rejected),
        "unallocated": unallocated,
        "factor_notes": sorted(notes.items(), key=lambda item: -item[1]),
    }


def _day_ranges(days: list[date]) -> str:
    """[1, 2, 3, 7] October -> '1-3 Oct, 7 Oct'."""
    if not days:
        return ""
    ranges, start, end = [], days[0], days[0]
    for day in days[1:]:
        if day == end + timedelta(days=1):
            end = day
            continue
        ranges.append((start, end))
        start = end = day
    ranges.append((start, end))
    return ", ".join(f"{a:%-d %b}" if a == b else f"{a:%-d}-{b:%-d %b}" for a, b in ranges)


def factors_used(*, window: Window, team: Team | None) -> dict:
    """The distinct factor values stored with the month's device facts, and their digest.

    This is the report's 'factor version': regenerating the month shows the same digest unless
    the facts were deliberately recomputed with new factors.
    """
    facts = HourlyDeviceFact.objects.filter(hour__gte=window.start, hour__lt=window.end)
    if team:
        facts = facts.filter(
            device__in=HourlyProjectFact.objects.filter(_fact_filter(window, team)).values("device")
        )
    site_rows = []
    for row in (
        facts.values("site__name", "pue", "grid_source", "price_per_kwh")
        .annotate(
            grid_min=Min("grid_gco2e_per_kwh"),
            grid_max=Max("grid_gco2e_per_kwh"),
            grid_mean=Avg("grid_gco2e_per_kwh"),
            device_hours=Count("id"),
        )
        .order_by("site__name", "grid_source", "pue", "price_per_kwh")
    ):
        site_rows.append(
            {
                "site": row["site__name"] or "no site",
                "pue": _stable(row["pue"]),
                "grid_source": row["grid_source"],
                "grid_min": _stable(row["grid_min"]),
                "grid_max": _stable(row["grid_max"]),
                "grid_mean": _stable(row["grid_mean"]),
                "price_per_kwh": _stable(row["price_per_kwh"]),
                "device_hours": row["device_hours"],
            }
        )
    embodied_rows = [
        {
            "device_model": row["device__name"] or "unknown model",
            "host": row["device__host__hostname"],
            "embodied_kgco2e_per_hour": _stable(row["embodied_kgco2e_per_hour"]),
            "device_hours": row["device_hours"],
        }
        for row in facts.values(
            "device__name", "device__host__hostname", "embodied_kgco2e_per_hour"
        )
        .annotate(device_hours=Count("id"))
        .order_by("device__host__hostname", "device__name", "embodied_kgco2e_per_hour")
    ]
    computed = facts.aggregate(first=Min("computed_at"), last=Max("computed_at"))
    return {
        "digest": summary.factor_digest(site_rows + embodied_rows) if site_rows else "",
        "computed_between": (
            f"{computed['first']:%Y-%m-%d %H:%M} and {computed['last']:%Y-%m-%d %H:%M} UTC"
            if computed["first"]
            else ""
        ),
        "sites": site_rows,
        "embodied": embodied_rows,
        "computed_from": computed["first"].isoformat() if computed["first"] else None,
        "computed_to": computed["last"].isoformat() if computed["last"] else None,
    }


def _stable(value: float | None) -> float | None:
    """Rounded to 6 significant digits so database summation order never changes a digest."""
    return None if value is None else float(f"{value:.6g}")


def _factor_defaults() -> list[dict]:
    """The documented fallbacks that stand in where the organisation gave no value."""
    return [
        {
            "factor": "PUE",
            "value": f"{settings.DEFAULT_PUE:g}",
            "source": factors.PUE_FALLBACK_SOURCE,
            "year": factors.PUE_FALLBACK_YEAR,
        },
        {
            "factor": "Grid carbon intensity",
            "value": f"{settings.DEFAULT_GRID_INTENSITY_G_PER_KWH:g} gCO2e/kWh",
            "source": factors.GRID_FALLBACK_SOURCE,
            "year": None,
        },
    ]


def month_days(window: Window) -> tuple[date, date]:
    """The month as dates [first day, first day of the next month), as the dashboards take."""
    return window.start.date(), window.end.date()


def _hosts_of_month(*, window: Window, team: Team | None) -> list[dict]:
    """The hardware page's host rows for the month, with their GPU models; for a team only the
    hosts its projects used (figures are then the whole host's)."""
    start, end = month_days(window)
    last_day = end - timedelta(days=1)
    devices = dashboards.hardware_devices(start=start, end=end, today=last_day)
    models: dict[int, set[str]] = {}
    for device in devices:
        if device["device"].kind == Device.Kind.GPU:
            name = device["gpu_model"].name if device["gpu_model"] else device["device"].name
            models.setdefault(device["host"].pk, set()).add(name or "unknown model")
    hosts = dashboards.hardware_hosts(start=start, end=end, today=last_day)
    if team:
        used = set(
            HourlyProjectFact.objects.filter(_fact_filter(window, team))
            .values_list("device__host", flat=True)
            .distinct()
        )
        hosts = [host for host in hosts if host["host"].pk in used]
    else:
        hosts = [host for host in hosts if _in_service(host["host"], start, last_day)]
    for host in hosts:
        host["models"] = sorted(models.get(host["host"].pk, set()))
        host["devices_rows"] = [d for d in devices if d["host"].pk == host["host"].pk]
    return hosts


def _in_service(host: Host, first_day: date, last_day: date) -> bool:
    if host.purchased and host.purchased > last_day:
        return False
    return not (host.decommissioned and host.decommissioned < first_day)
