"""A small organisation with hourly facts of known numbers, for the page and permission tests.

Every figure is chosen so the expected totals can be checked by hand:
- October 2026: gpu-node-01/gpu0 works 2 hours for llm-finetune (0.5 kWh IT each hour),
  gpu1 idles 2 hours unallocated (0.1 kWh each) -> IT energy 1.2 kWh in the month.
- September 2026: the same hours with half the numbers -> +100 % against last month.
- October 2025: one quarter of the numbers -> +300 % against a year ago.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.contrib.auth import get_user_model

from assessments.footprint.daily_facts import daily_facts_refresh
from assessments.models import (
    GridZone,
    HardwareModel,
    HourlyDeviceFact,
    HourlyJobFact,
    HourlyProjectFact,
    Organisation,
    Phase,
    Project,
    Site,
    Team,
    UserProfile,
    WorkRecord,
)
from collectors.models import Device, Host
from collectors.services import collector_create

PUE = 1.3
GRID = 56.0  # gCO2e/kWh
PRICE = 0.2  # EUR/kWh
EMBODIED_PER_HOUR = 0.02  # kgCO2e per device-hour
FILTERS = {"start": "2026-10-01", "end": "2026-11-01"}


@dataclass
class World:
    nlp: Team
    vision: Team
    project: Project
    other_project: Project
    site: Site
    host: Host
    gpu0: Device
    gpu1: Device


def make_user(username: str, role: str, teams=(), *, superuser: bool = False):
    user = get_user_model().objects.create_user(username, password="pw-" + username)
    if superuser:
        user.is_superuser = user.is_staff = True
        user.save()
    profile, _ = UserProfile.objects.get_or_create(user=user)
    profile.role = role
    profile.save()
    profile.teams.set(teams)
    return user


def _fact_values(energy_it_kwh: float) -> dict:
    facility = energy_it_kwh * PUE
    return {
        "energy_it_kwh": energy_it_kwh,
        "energy_facility_kwh": facility,
        "operational_kgco2e": facility * GRID / 1000,
        "embodied_kgco2e": EMBODIED_PER_HOUR,
        "cost": facility * PRICE,
        "gpu_hours": 1.0,
    }


def add_hour(device: Device, hour: datetime, *, energy_it_kwh: float, project, util: float):
    """One device-hour: a device fact and the project fact it is attributed to."""
    values = _fact_values(energy_it_kwh)
    HourlyDeviceFact.objects.create(
        device=device,
        hour=hour,
        site=device.host.site,
        measured_seconds=3600,
        coverage=1.0,
        util_mean_pct=util,
        pue=PUE,
        grid_gco2e_per_kwh=GRID,
        grid_source="test grid",
        price_per_kwh=PRICE,
        embodied_kgco2e_per_hour=EMBODIED_PER_HOUR,
        **values,
    )
    HourlyProjectFact.objects.create(
        device=device,
        hour=hour,
        project=project,
        attribution="tag" if project else "unallocated",
        team=project.team if project else None,
        site=device.host.site,
        phase=project.phase if project else "",
        **values,
    )
    if project:  # a Slurm job of user ada ran the project's hours
        HourlyJobFact.objects.create(
            device=device,
            hour=hour,
            job_key=f"job:{project.pk}",
            job_id=str(project.pk),
            user="ada",
            project=project,
            team=project.team,
            **values,
        )


def make_world() -> World:
    organisation = Organisation.get()
    organisation.currency = "EUR"
    organisation.save()
    GridZone.objects.update_or_create(
        code="FRA",
        defaults={"name": "France", "gco2e_per_kwh": GRID, "year": 2024, "source": "Test grid"},
    )
    HardwareModel.objects.update_or_create(
        kind=HardwareModel.Kind.GPU,
        name="Test GPU 80GB",
        defaults={"embodied_kgco2e": 150.0, "lifetime_years": 4, "source": "Test LCA 2025"},
    )
    site = Site.objects.create(
        name="paris-dc1",
        grid_zone="FRA",
        pue=PUE,
        pue_source="Test PUE",
        energy_price_per_kwh=PRICE,
    )
    nlp = Team.objects.create(name="NLP", slug="nlp")
    vision = Team.objects.create(name="Vision", slug="vision")
    project = Project.objects.create(
        slug="llm-finetune",
        name="LLM fine-tuning",
        team=nlp,
        phase=Phase.FINE_TUNING,
        work_unit="training samples",
    )
    other_project = Project.objects.create(
        slug="image-cls", name="Image classifier", team=vision, phase=Phase.INFERENCE
    )
    # The host is NLP's: its collector is (engineers allocate only their teams' hosts).
    rack, _token = collector_create(name="nlp-agents", team=nlp)
    host = Host.objects.create(
        hostname="gpu-node-01",
        site=site,
        purchased=date(2024, 3, 1),
        lifetime_years=4,
        collector=rack,
    )
    gpu0 = Device.objects.create(uuid="GPU-0", host=host, index=0, name="Test GPU 80GB")
    gpu1 = Device.objects.create(uuid="GPU-1", host=host, index=1, name="Test GPU 80GB")
    for (year, month), scale in (((2026, 10), 1.0), ((2026, 9), 0.5), ((2025, 10), 0.25)):
        for hour in (10, 11):
            at = datetime(year, month, 5, hour, tzinfo=UTC)
            add_hour(gpu0, at, energy_it_kwh=0.5 * scale, project=project, util=80)
            add_hour(gpu1, at, energy_it_kwh=0.1 * scale, project=None, util=1)
    WorkRecord.objects.create(
        project=project,
        period_start=datetime(2026, 10, 5, tzinfo=UTC),
        period_end=datetime(2026, 10, 6, tzinfo=UTC),
        units=1000,
    )
    daily_facts_refresh(
        start=datetime(2025, 1, 1, tzinfo=UTC), end=datetime(2027, 1, 1, tzinfo=UTC)
    )
    return World(nlp, vision, project, other_project, site, host, gpu0, gpu1)


# Expected October 2026 figures (hand-computed from the numbers above).
OCT_IT_KWH = 2 * 0.5 + 2 * 0.1  # 1.2
OCT_FACILITY_KWH = OCT_IT_KWH * PUE  # 1.56
OCT_OPERATIONAL = OCT_FACILITY_KWH * GRID / 1000  # 0.08736
OCT_EMBODIED = 4 * EMBODIED_PER_HOUR  # 0.08
PROJECT_IT_KWH = 1.0
PROJECT_TOTAL_KG = 1.0 * PUE * GRID / 1000 + 2 * EMBODIED_PER_HOUR  # 0.0728 + 0.04 = 0.1128
PROJECT_SCI = PROJECT_TOTAL_KG / 1000
