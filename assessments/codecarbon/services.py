"""Writes of CodeCarbon data: experiment mappings, runs and emissions from the API, CSV imports,
and the hourly facts computed from them (docs/codecarbon.md, docs/methodology.md).

Every write of emissions recomputes the hourly facts of the hours it touched in the same
transaction, from everything stored for those hours: the facts are a function of the stored
intervals and the factors, so resending or re-importing changes nothing.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone
from pydantic import ValidationError

from assessments.codecarbon import emissions_csv
from assessments.codecarbon.emissions_csv import CsvError, RunTotals
from assessments.codecarbon.reported_energy import sum_by_hour
from assessments.codecarbon.schemas import MAX_FUTURE, EmissionIn, RunIn
from assessments.footprint import footprint_math as fm
from assessments.models import (
    CodeCarbonEmission,
    CodeCarbonExperiment,
    CodeCarbonRun,
    GridZone,
    HourlyCodeCarbonFact,
    Phase,
    Project,
    Site,
)
from assessments.organisation.factors import hourly_intensities, site_price, site_pue
from collectors.schemas import error_details


class CodeCarbonError(Exception):
    """A refused request or file: nothing of it was stored. Carries the HTTP status."""

    def __init__(self, status: int, error: str, details: list[dict] | None = None):
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details or []


# --- Experiments ---------------------------------------------------------------------------


def _clean_phase(phase: str) -> str:
    phase = (phase or "").strip()
    if phase and phase not in Phase.values:
        raise CodeCarbonError(
            400,
            f"Unknown phase {phase!r}; one of {', '.join(Phase.values)}.",
            [{"field": "phase", "message": "unknown phase"}],
        )
    return phase


def experiment_register(
    *,
    project: Project,
    experiment_id: uuid.UUID | str,
    phase: str = "",
    site: Site | None = None,
    created_by=None,
    move: bool = False,
) -> tuple[CodeCarbonExperiment, bool]:
    """Map a CodeCarbon experiment to a project (idempotent); (mapping, created).

    An experiment mapped to another project is refused unless `move` (the inventory file, which
    states the whole mapping). Runs already stored keep the project they were stored with.
    """
    try:
        experiment_uuid = uuid.UUID(str(experiment_id))
    except ValueError:
        raise CodeCarbonError(
            400,
            f"{experiment_id!r} is not a CodeCarbon experiment id (a UUID).",
            [{"field": "id", "message": "not a UUID"}],
        ) from None
    phase = _clean_phase(phase)
    existing = CodeCarbonExperiment.objects.filter(experiment_id=experiment_uuid).first()
    if existing is not None and existing.project_id != project.pk and not move:
        raise CodeCarbonError(
            409,
            f"Experiment {experiment_uuid} is already mapped to project "
            f"{existing.project.slug!r}; remove that mapping first.",
            [{"field": "id", "message": "mapped to another project"}],
        )
    experiment, created = CodeCarbonExperiment.objects.update_or_create(
        experiment_id=experiment_uuid,
        defaults={"project": project, "phase": phase, "site": site},
        create_defaults={
            "project": project,
            "phase": phase,
            "site": site,
            "created_by": created_by,
        },
    )
    return experiment, created


def experiment_unregister(*, experiment: CodeCarbonExperiment) -> None:
    """Remove the mapping; runs already stored stay with their project."""
    experiment.delete()


# --- The API --------------------------------------------------------------------------------


def may_write(collector, project: Project) -> bool:
    """A collector of a team writes only to that team's projects; one without team, to any."""
    team_id = getattr(collector, "team_id", None)
    return team_id is None or team_id == project.team_id


def _validated(model, body: bytes):
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise CodeCarbonError(400, f"The body is not valid JSON: {first['msg']}.") from None
        if first["type"] == "model_type" and not first["loc"]:
            raise CodeCarbonError(400, "The body must be a JSON object.") from None
        details = error_details(exc)
        names = ", ".join(d["field"] for d in details)
        raise CodeCarbonError(
            400, f"Invalid field(s) {names}; nothing was stored.", details
        ) from None


def _cloud(provider: str | None, region: str | None) -> tuple[str, str]:
    return (provider or "").strip().lower()[:50], (region or "").strip()[:100]


@transaction.atomic
def run_create(*, collector, body: bytes) -> CodeCarbonRun:
    """POST /runs: a run of a registered experiment the collector may write to."""
    run_in = _validated(RunIn, body)
    experiment = (
        CodeCarbonExperiment.objects.select_related("project", "site")
        .filter(experiment_id=run_in.experiment_id)
        .first()
    )
    if experiment is None:
        raise CodeCarbonError(
            404,
            f"Experiment {run_in.experiment_id} is not registered in GreenAI: map it to a "
            "project on the project page, through the API or in the inventory.",
            [{"field": "experiment_id", "message": "not registered"}],
        )
    if not may_write(collector, experiment.project):
        raise CodeCarbonError(
            403,
            f"Collector {collector.name!r} may not write to project "
            f"{experiment.project.slug!r} of another team.",
            [{"field": "experiment_id", "message": "project of another team"}],
        )
    provider, region = _cloud(run_in.provider, run_in.region)
    return CodeCarbonRun.objects.create(
        run_id=str(uuid.uuid4()),
        source=CodeCarbonRun.Source.API,
        experiment=experiment,
        experiment_ref=str(experiment.experiment_id),
        project=experiment.project,
        phase=experiment.effective_phase,
        site=experiment.site,
        collector=collector,
        started_at=run_in.timestamp,
        tracking_mode=(run_in.tracking_mode or "")[:20],
        # CodeCarbon sends `region` and `provider` only for a cloud it recognised.
        cloud_provider=provider if provider else "",
        cloud_region=region if provider else "",
        region="" if provider else region,
        os=run_in.os or "",
        python_version=run_in.python_version or "",
        codecarbon_version=run_in.codecarbon_version or "",
        cpu_count=run_in.cpu_count,
        cpu_model=run_in.cpu_model or "",
        gpu_count=run_in.gpu_count,
        gpu_model=run_in.gpu_model or "",
        ram_total_size_gb=run_in.ram_total_size,
    )


@dataclass(frozen=True)
class EmissionResult:
    emission: CodeCarbonEmission
    created: bool


def emission_add(*, collector, body: bytes) -> EmissionResult:
    """POST /emissions: one interval of a run; the same run and timestamp again stores nothing."""
    emission_in = _validated(EmissionIn, body)
    run = (
        CodeCarbonRun.objects.select_related("project", "site")
        .filter(source=CodeCarbonRun.Source.API, run_id=str(emission_in.run_id))
        .first()
    )
    if run is None:
        raise CodeCarbonError(
            404,
            f"Run {emission_in.run_id} is unknown: create it with POST /runs first.",
            [{"field": "run_id", "message": "unknown run"}],
        )
    if not may_write(collector, run.project) or (
        run.collector_id is not None and run.collector_id != collector.pk
    ):
        raise CodeCarbonError(
            403,
            f"Run {run.run_id} was created with another collector token.",
            [{"field": "run_id", "message": "run of another collector"}],
        )
    with transaction.atomic():
        # One writer per run at a time: its hourly facts are deleted and rewritten below.
        CodeCarbonRun.objects.select_for_update().filter(pk=run.pk).first()
        existing = CodeCarbonEmission.objects.filter(
            run=run, timestamp=emission_in.timestamp
        ).first()
        if existing is not None:
            return EmissionResult(existing, created=False)
        emission = CodeCarbonEmission.objects.create(
            run=run,
            timestamp=emission_in.timestamp,
            duration_s=emission_in.duration,
            cpu_energy_kwh=emission_in.cpu_energy,
            gpu_energy_kwh=emission_in.gpu_energy,
            ram_energy_kwh=emission_in.ram_energy,
            energy_kwh=emission_in.energy_consumed,
            cpu_power_w=emission_in.cpu_power,
            gpu_power_w=emission_in.gpu_power,
            ram_power_w=emission_in.ram_power,
            cpu_utilization_pct=emission_in.cpu_utilization_percent,
            gpu_utilization_pct=emission_in.gpu_utilization_percent,
            ram_utilization_pct=emission_in.ram_utilization_percent,
            reported_emissions_kg=emission_in.emissions_sum,
        )
        run_facts_recompute(run=run, hours=_hours_of(emission.timestamp, emission.duration_s))
    return EmissionResult(emission, created=True)


# --- Offline: emissions.csv -----------------------------------------------------------------


@dataclass(frozen=True)
class CsvImportResult:
    rows: int
    intervals_stored: int
    energy_kwh_stored: float
    runs: int
    projects: tuple[str, ...]


def _experiment_or_none(snapshot, experiments: dict) -> CodeCarbonExperiment | None:
    try:
        return experiments.get(uuid.UUID(snapshot.experiment_id))
    except ValueError:
        return None


def _experiment_for(snapshot, experiments: dict) -> CodeCarbonExperiment:
    experiment = _experiment_or_none(snapshot, experiments)
    if experiment is None:
        shown = snapshot.experiment_id or "(none)"
        raise CsvError(
            snapshot.line,
            f"experiment_id {shown} is not registered in GreenAI: map it to a project, or "
            "name the project (--project, or the project page's upload form)",
        )
    return experiment


def _run_metadata(snapshot) -> dict:
    return {
        "tracking_mode": snapshot.tracking_mode,
        "country_iso_code": snapshot.country_iso_code,
        "country_name": snapshot.country_name,
        "region": snapshot.region,
        "cloud_provider": snapshot.cloud_provider,
        "cloud_region": snapshot.cloud_region,
        "os": snapshot.os,
        "python_version": snapshot.python_version,
        "codecarbon_version": snapshot.codecarbon_version,
        "cpu_count": snapshot.cpu_count,
        "cpu_model": snapshot.cpu_model,
        "gpu_count": snapshot.gpu_count,
        "gpu_model": snapshot.gpu_model,
        "ram_total_size_gb": snapshot.ram_total_size_gb,
    }


def _stored_totals(run: CodeCarbonRun) -> RunTotals:
    sums = run.emissions.aggregate(
        duration=Sum("duration_s"),
        energy=Sum("energy_kwh"),
        cpu=Sum("cpu_energy_kwh"),
        gpu=Sum("gpu_energy_kwh"),
        ram=Sum("ram_energy_kwh"),
        emissions=Sum("reported_emissions_kg"),
    )
    return RunTotals(
        duration_s=sums["duration"] or 0.0,
        energy_kwh=sums["energy"] or 0.0,
        cpu_energy_kwh=sums["cpu"] or 0.0,
        gpu_energy_kwh=sums["gpu"] or 0.0,
        ram_energy_kwh=sums["ram"] or 0.0,
        emissions_kg=sums["emissions"] or 0.0,
    )


def codecarbon_csv_import(
    *,
    text: str,
    project: Project | None = None,
    naive_tz: tzinfo = UTC,
    now: datetime | None = None,
) -> CsvImportResult:
    """Load CodeCarbon's emissions.csv; all of it or, on CsvError (naming the line), nothing.

    Rows go to the project of their experiment_id's mapping, or all to `project` when given.
    Rows are run totals (see emissions_csv); what a run's stored intervals already cover is
    skipped, so importing a file twice, or a later copy of it, stores each interval once.
    """
    snapshots = emissions_csv.parse_emissions_csv(text, naive_tz=naive_tz)
    latest_allowed = (now or timezone.now()) + MAX_FUTURE
    for snapshot in snapshots:
        if snapshot.timestamp > latest_allowed:
            raise CsvError(snapshot.line, "timestamp: more than 10 minutes in the future")
    ids = set()
    for snapshot in snapshots:
        try:
            ids.add(uuid.UUID(snapshot.experiment_id))
        except ValueError:
            pass
    experiments = {
        e.experiment_id: e
        for e in CodeCarbonExperiment.objects.select_related("project", "site").filter(
            experiment_id__in=ids
        )
    }
    groups: dict[tuple, list] = defaultdict(list)
    targets = {}
    for snapshot in snapshots:
        if project is not None:
            # The row's experiment still names the run's phase and site if mapped to `project`.
            experiment = _experiment_or_none(snapshot, experiments)
            if experiment is not None and experiment.project_id != project.pk:
                experiment = None
            target = (project, experiment)
        else:
            experiment = _experiment_for(snapshot, experiments)
            target = (experiment.project, experiment)
        # A row that names no run is a run of its own, known by its time.
        run_key = (
            snapshot.run_id or f"unidentified-{snapshot.timestamp.astimezone(UTC):%Y%m%dT%H%M%S}"
        )
        groups[(target[0].pk, run_key)].append(snapshot)
        targets[(target[0].pk, run_key)] = target
    stored_count, stored_kwh = 0, 0.0
    with transaction.atomic():
        for key, run_snapshots in groups.items():
            target_project, experiment = targets[key]
            latest = max(run_snapshots, key=lambda s: (s.duration_s, s.line))
            started = min(s.timestamp - timedelta(seconds=s.duration_s) for s in run_snapshots)
            run, created = CodeCarbonRun.objects.select_for_update().get_or_create(
                source=CodeCarbonRun.Source.CSV,
                project=target_project,
                run_id=key[1],
                defaults={
                    "experiment": experiment,
                    "experiment_ref": latest.experiment_id,
                    "phase": experiment.effective_phase if experiment else target_project.phase,
                    "site": experiment.site if experiment else None,
                    "started_at": started,
                    **_run_metadata(latest),
                },
            )
            stored = RunTotals() if created else _stored_totals(run)
            if not created:
                # The row itself (run and timestamp) is the idempotency key.
                known = set(
                    run.emissions.filter(
                        timestamp__in=[s.timestamp for s in run_snapshots]
                    ).values_list("timestamp", flat=True)
                )
                run_snapshots = [s for s in run_snapshots if s.timestamp not in known]
            intervals = emissions_csv.intervals_from_snapshots(stored, run_snapshots)
            if not intervals:
                continue
            taken = set(
                run.emissions.filter(
                    timestamp__in=[interval.timestamp for interval in intervals]
                ).values_list("timestamp", flat=True)
            )
            seen = set()
            rows = []
            for interval in intervals:
                if interval.timestamp in taken or interval.timestamp in seen:
                    raise CsvError(
                        interval.line,
                        f"run {key[1]} already has an interval ending at "
                        f"{interval.timestamp.isoformat()} with other totals",
                    )
                seen.add(interval.timestamp)
                snapshot = next(s for s in run_snapshots if s.line == interval.line)
                rows.append(
                    CodeCarbonEmission(
                        run=run,
                        timestamp=interval.timestamp,
                        duration_s=interval.duration_s,
                        cpu_energy_kwh=interval.cpu_energy_kwh,
                        gpu_energy_kwh=interval.gpu_energy_kwh,
                        ram_energy_kwh=interval.ram_energy_kwh,
                        energy_kwh=interval.energy_kwh,
                        cpu_power_w=snapshot.cpu_power_w,
                        gpu_power_w=snapshot.gpu_power_w,
                        ram_power_w=snapshot.ram_power_w,
                        cpu_utilization_pct=snapshot.cpu_utilization_pct,
                        gpu_utilization_pct=snapshot.gpu_utilization_pct,
                        ram_utilization_pct=snapshot.ram_utilization_pct,
                        reported_emissions_kg=interval.emissions_kg,
                    )
                )
            CodeCarbonEmission.objects.bulk_create(rows)
            hours = set()
            for row in rows:
                hours |= _hours_of(row.timestamp, row.duration_s)
            run_facts_recompute(run=run, hours=hours)
            stored_count += len(rows)
            stored_kwh += sum(row.energy_kwh for row in rows)
    return CsvImportResult(
        rows=len(snapshots),
        intervals_stored=stored_count,
        energy_kwh_stored=stored_kwh,
        runs=len(groups),
        projects=tuple(sorted({targets[key][0].slug for key in groups})),
    )


# --- Hourly facts ---------------------------------------------------------------------------


def _hours_of(timestamp: datetime, duration_s: float) -> set[datetime]:
    return {
        datetime.fromtimestamp(hour, tz=UTC)
        for hour in fm.hours_touched(timestamp.timestamp(), duration_s)
    }


def run_grid_zone(run: CodeCarbonRun) -> str | None:
    """The site's zone; else the run's cloud region where GreenAI knows it; else its country."""
    if run.site is not None:
        return run.site.grid_zone
    if run.cloud_provider and run.cloud_region:
        code = f"{run.cloud_provider}:{run.cloud_region}"
        if GridZone.objects.filter(code=code).exists() or not run.country_iso_code:
            return code
    return run.country_iso_code or None


def run_facts_recompute(*, run: CodeCarbonRun, hours: set[datetime] | None = None) -> int:
    """Recompute the run's hourly facts for `hours` (all its hours if None); rows written."""
    emissions = run.emissions.all()
    if hours is None:
        hours = set()
        for timestamp, duration in emissions.values_list("timestamp", "duration_s"):
            hours |= _hours_of(timestamp, duration)
        HourlyCodeCarbonFact.objects.filter(run=run).delete()
    if not hours:
        return 0
    first, last = min(hours), max(hours) + timedelta(hours=1)
    longest = emissions.aggregate(longest=Max("duration_s"))["longest"] or 0.0
    candidates = emissions.filter(
        timestamp__gt=first, timestamp__lte=last + timedelta(seconds=longest)
    ).values_list("timestamp", "duration_s", "energy_kwh")
    sums = sum_by_hour((ts.timestamp(), duration, kwh) for ts, duration, kwh in candidates)
    zone = run_grid_zone(run)
    intensities = hourly_intensities(zone, first, last)
    pue, price = site_pue(run.site), site_price(run.site)
    team_id = Project.objects.filter(pk=run.project_id).values_list("team_id", flat=True).first()
    rows = []
    for hour in sorted(hours):
        hour_sums = sums.get(hour.timestamp())
        if hour_sums is None:
            continue
        grid = intensities[hour]
        figures = fm.figures_for(
            hour_sums.energy_kwh,
            0.0,
            fm.HourFactors(
                pue=pue.value,
                grid_gco2e_per_kwh=grid.value,
                price_per_kwh=price.value,
                embodied_kgco2e_per_hour=0.0,
            ),
        )
        notes = [factor.note for factor in (pue, price, grid) if factor.note]
        rows.append(
            HourlyCodeCarbonFact(
                run=run,
                hour=hour,
                project_id=run.project_id,
                team_id=team_id,
                site=run.site,
                phase=run.phase,
                seconds=hour_sums.seconds,
                energy_it_kwh=figures.energy_it_kwh,
                energy_facility_kwh=figures.energy_facility_kwh,
                operational_kgco2e=figures.operational_kgco2e,
                embodied_kgco2e=0.0,
                cost=figures.cost,
                gpu_hours=0.0,
                pue=pue.value,
                grid_zone=zone or "",
                grid_gco2e_per_kwh=grid.value,
                grid_source=grid.source[:300],
                price_per_kwh=price.value,
                factor_notes=notes,
            )
        )
    HourlyCodeCarbonFact.objects.filter(run=run, hour__in=hours).delete()
    HourlyCodeCarbonFact.objects.bulk_create(rows)
    return len(rows)
