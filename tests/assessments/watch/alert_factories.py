"""A small organisation for the alert tests: one site, one host with two GPUs, one team with a
project, and crafted hourly facts of known numbers."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from assessments.footprint.daily_facts import daily_facts_refresh
from assessments.models import (
    AlertRule,
    HourlyDeviceFact,
    HourlyProjectFact,
    Project,
    Site,
    Team,
)
from collectors.models import Device, Host
from collectors.services import collector_create

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@dataclass
class Org:
    team: Team
    project: Project
    host: Host
    gpu0: Device
    gpu1: Device


def make_org() -> Org:
    site = Site.objects.create(name="dc1", grid_zone="FRA", pue=1.0, energy_price_per_kwh=0.2)
    team = Team.objects.create(name="NLP", slug="nlp")
    project = Project.objects.create(slug="llm", name="LLM", team=team)
    collector, _ = collector_create(name="nlp-agents", team=team)
    host = Host.objects.create(hostname="gpu-node-01", site=site, collector=collector)
    gpu0 = Device.objects.create(uuid="GPU-0", host=host, index=0, name="Test GPU")
    gpu1 = Device.objects.create(uuid="GPU-1", host=host, index=1, name="Test GPU")
    return Org(team, project, host, gpu0, gpu1)


def fact(
    device: Device,
    hour: datetime,
    *,
    project: Project | None,
    energy_it_kwh: float = 1.0,
    kgco2e: float = 0.0,
    util: float = 80.0,
):
    """One device-hour wholly charged to `project` (None: unallocated); carbon all operational."""
    values = {
        "energy_it_kwh": energy_it_kwh,
        "energy_facility_kwh": energy_it_kwh,
        "operational_kgco2e": kgco2e,
        "embodied_kgco2e": 0.0,
        "cost": energy_it_kwh * 0.2,
        "gpu_hours": 1.0,
    }
    HourlyDeviceFact.objects.create(
        device=device,
        hour=hour,
        site=device.host.site,
        measured_seconds=3600,
        coverage=1.0,
        util_mean_pct=util,
        pue=1.0,
        grid_gco2e_per_kwh=0.0,
        grid_source="test",
        price_per_kwh=0.2,
        embodied_kgco2e_per_hour=0.0,
        **values,
    )
    HourlyProjectFact.objects.create(
        device=device,
        hour=hour,
        project=project,
        attribution="allocation" if project else "unallocated",
        team=project.team if project else None,
        site=device.host.site,
        phase=project.phase if project else "",
        **values,
    )
    # Whole days are read from the daily aggregates the rollup keeps beside the hours.
    day_start = hour.replace(hour=0, minute=0, second=0, microsecond=0)
    daily_facts_refresh(start=day_start, end=day_start + timedelta(days=1))


def day(offset: int) -> datetime:
    """Midnight `offset` days before NOW's day (1: yesterday)."""
    return NOW.replace(hour=0) - timedelta(days=offset)


def rule(kind: str, *, threshold: float, team=None, project=None, **extra) -> AlertRule:
    return AlertRule.objects.create(
        kind=kind, threshold=threshold, team=team, project=project, **extra
    )
