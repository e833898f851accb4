"""A known month for the report tests: facts written directly, with round numbers.

October 2026 (and a smaller September, for the comparison): site paris-dc1 (PUE 1.3,
56 gCO2e/kWh, 0.18 EUR/kWh), host gpu-node-01 with two H100s. Every day from 00:00 to 07:59 UTC:
GPU 0 draws 0.5 kWh per hour for project llm-finetune (team NLP); GPU 1 draws 0.3 kWh, half for
vision-inference (team Vision) and half unallocated. Embodied: 0.03 kgCO2e per device-hour.
"""

from datetime import UTC, date, datetime, timedelta

from assessments.footprint.daily_facts import daily_facts_refresh
from assessments.models import (
    GridZone,
    HourlyDeviceFact,
    HourlyProjectFact,
    Optimisation,
    Organisation,
    Project,
    Recommendation,
    Site,
    Team,
    WorkRecord,
)
from collectors.models import Device, Host, IngestRejection

OCTOBER = date(2026, 10, 1)
SEPTEMBER = date(2026, 9, 1)
PUE = 1.3
GRID = 56.0
PRICE = 0.18
EMBODIED_PER_HOUR = 0.03
HOURS_PER_DAY = 8
GRID_SOURCE = "Ember 2024 via CodeCarbon (annual, FRA)"


def make_organisation(name="Example Corp", recipients=""):
    organisation = Organisation.get()
    organisation.name = name
    organisation.currency = "EUR"
    organisation.report_recipients = recipients
    organisation.save()
    return organisation


def make_scenario(*, september_days=15, october_days=31, measured_seconds=3600.0):
    """The standard scenario; returns a dict of the objects it made."""
    organisation = make_organisation()
    GridZone.objects.update_or_create(
        code="FRA",
        defaults={"name": "France", "gco2e_per_kwh": GRID, "year": 2024, "source": GRID_SOURCE},
    )
    site = Site.objects.create(
        name="paris-dc1",
        grid_zone="FRA",
        pue=PUE,
        pue_source="Operator's 2025 measurement",
        energy_price_per_kwh=PRICE,
        price_source="2026 supply contract",
    )
    nlp = Team.objects.create(name="NLP", slug="nlp")
    vision = Team.objects.create(name="Vision", slug="vision")
    finetune = Project.objects.create(
        slug="llm-finetune",
        name="LLM fine-tuning",
        team=nlp,
        phase="training",
        work_unit="training samples",
    )
    inference = Project.objects.create(
        slug="vision-inference",
        name="Vision inference",
        team=vision,
        phase="inference",
        work_unit="inferences",
    )
    host = Host.objects.create(
        hostname="gpu-node-01",
        site=site,
        embodied_kgco2e=4600,
        embodied_source="vendor LCA",
        lifetime_years=4,
        purchased=date(2024, 3, 1),
    )
    gpus = [
        Device.objects.create(
            uuid=f"GPU-report-{index}",
            host=host,
            index=index,
            name="NVIDIA H100 80GB HBM3",
            power_limit_w=700,
            first_seen_at=datetime(2026, 8, 1, tzinfo=UTC),
        )
        for index in range(2)
    ]
    for month, days in ((SEPTEMBER, september_days), (OCTOBER, october_days)):
        add_month_facts(
            month=month,
            days=days,
            gpus=gpus,
            site=site,
            projects=(finetune, inference),
            measured_seconds=measured_seconds,
        )
    WorkRecord.objects.create(
        project=inference,
        period_start=datetime(2026, 10, 1, tzinfo=UTC),
        period_end=datetime(2026, 11, 1, tzinfo=UTC),
        units=1_000_000,
    )
    Optimisation.objects.create(
        project=inference,
        technique="quantisation",
        title="INT8 quantisation of the detector",
        status=Optimisation.Status.PLANNED,
        engineering_hours=10,
        hourly_rate=80,
    )
    Recommendation.objects.create(
        kind=Recommendation.Kind.IDLE_GPU,
        fingerprint="idle_gpu:gpu-node-01:1",
        target="gpu-node-01 GPU 1",
        title="Release idle GPU 1 of gpu-node-01",
        action="Power the GPU down or give it to a project.",
        period_start=datetime(2026, 10, 1, tzinfo=UTC),
        period_end=datetime(2026, 11, 1, tzinfo=UTC),
        monthly_facility_energy_kwh=42.5,
        monthly_cost=9.95,
        monthly_kgco2e=3.25,
        confidence=Recommendation.Confidence.HIGH,
    )
    for _ in range(3):
        IngestRejection.objects.create(
            at=datetime(2026, 10, 5, 12, tzinfo=UTC), status=400, reason="invalid_batch"
        )
    return {
        "organisation": organisation,
        "site": site,
        "teams": (nlp, vision),
        "projects": (finetune, inference),
        "host": host,
        "gpus": gpus,
    }


def _figures(energy_it_kwh: float) -> dict:
    facility = energy_it_kwh * PUE
    return {
        "energy_it_kwh": energy_it_kwh,
        "energy_facility_kwh": facility,
        "operational_kgco2e": facility * GRID / 1000,
        "cost": facility * PRICE,
    }


def add_month_facts(*, month: date, days: int, gpus, site, projects, measured_seconds=3600.0):
    """Device and project facts for the first `days` days of `month`, then the daily sums."""
    finetune, inference = projects
    device_facts, project_facts = [], []
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    for day in range(days):
        for hour_of_day in range(HOURS_PER_DAY):
            hour = start + timedelta(days=day, hours=hour_of_day)
            for gpu, energy, util in ((gpus[0], 0.5, 80.0), (gpus[1], 0.3, 20.0)):
                device_facts.append(
                    HourlyDeviceFact(
                        device=gpu,
                        hour=hour,
                        site=site,
                        measured_seconds=measured_seconds,
                        coverage=measured_seconds / 3600,
                        util_mean_pct=util,
                        embodied_kgco2e=EMBODIED_PER_HOUR,
                        gpu_hours=1.0,
                        pue=PUE,
                        grid_gco2e_per_kwh=GRID,
                        grid_source=GRID_SOURCE,
                        price_per_kwh=PRICE,
                        embodied_kgco2e_per_hour=EMBODIED_PER_HOUR,
                        **_figures(energy),
                    )
                )
            project_facts.append(_project_fact(gpus[0], hour, site, finetune, 0.5, 1.0, "tag"))
            project_facts.append(_project_fact(gpus[1], hour, site, inference, 0.15, 0.5, "tag"))
            project_facts.append(_project_fact(gpus[1], hour, site, None, 0.15, 0.5, "unallocated"))
    if not days:
        return
    HourlyDeviceFact.objects.bulk_create(device_facts)
    HourlyProjectFact.objects.bulk_create(project_facts)
    end = start + timedelta(days=max(days, 1))
    daily_facts_refresh(start=start, end=end)


def _project_fact(device, hour, site, project, energy, share, attribution):
    return HourlyProjectFact(
        device=device,
        hour=hour,
        project=project,
        attribution=attribution,
        team=project.team if project else None,
        site=site,
        phase=project.phase if project else "",
        embodied_kgco2e=EMBODIED_PER_HOUR * share,
        gpu_hours=share,
        **_figures(energy),
    )


def month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return start, datetime(following.year, following.month, 1, tzinfo=UTC)
