"""Fixtures of the decisions tests: facts written directly (and their days rebuilt, as the
rollup does), so no rollup is needed."""

from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth import get_user_model

from assessments.footprint.daily_facts import daily_facts_refresh
from assessments.models import (
    GridZone,
    HourlyDeviceFact,
    HourlyProjectFact,
    Organisation,
    Project,
    Site,
    Team,
    UserProfile,
    WorkRecord,
)
from collectors.models import Device, Host

PUE = 1.5
GRID = 400.0  # gCO2e/kWh
PRICE = 0.20  # EUR/kWh
EMBODIED_PER_HOUR = 0.01  # kgCO2e


def at(day: date, hour: int = 0) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def make_organisation(*, rate=80.0, carbon_price=100.0, currency="EUR") -> Organisation:
    organisation = Organisation.get()
    organisation.engineer_hourly_rate = rate
    organisation.internal_carbon_price_per_t = carbon_price
    organisation.currency = currency
    organisation.save()
    return organisation


def make_team(name="NLP") -> Team:
    team, _ = Team.objects.get_or_create(name=name, defaults={"slug": name.lower()})
    return team


def make_project(slug="chat", *, team=None, phase="inference", work_unit="inferences"):
    return Project.objects.create(
        slug=slug,
        name=slug.replace("-", " ").title(),
        team=team or make_team(),
        phase=phase,
        work_unit=work_unit,
    )


def make_site(name="paris", *, zone="FRA", gco2e=GRID, pue=PUE, price=PRICE) -> Site:
    GridZone.objects.get_or_create(
        code=zone, defaults={"name": zone, "gco2e_per_kwh": gco2e, "source": "test", "year": 2024}
    )
    return Site.objects.create(
        name=name, grid_zone=zone, pue=pue, energy_price_per_kwh=price, pue_source="test"
    )


def make_device(hostname="node-1", index=0, *, site=None, limit=400.0) -> Device:
    host, _ = Host.objects.get_or_create(hostname=hostname, defaults={"site": site})
    return Device.objects.create(
        uuid=f"GPU-{hostname}-{index}",
        host=host,
        index=index,
        name="NVIDIA A100-SXM4-80GB",
        power_limit_w=limit,
    )


def write_hour(
    device,
    hour: datetime,
    *,
    it_kwh: float,
    util: float = 80.0,
    project=None,
    phase=None,
    site=None,
    seconds=3600.0,
    pue=PUE,
    grid=GRID,
    price=PRICE,
):
    """One device-hour and, with a project, its project fact (the whole hour to the project)."""
    facility = it_kwh * pue
    values = dict(
        energy_it_kwh=it_kwh,
        energy_facility_kwh=facility,
        operational_kgco2e=facility * grid / 1000,
        embodied_kgco2e=EMBODIED_PER_HOUR,
        cost=facility * price,
        gpu_hours=seconds / 3600,
    )
    HourlyDeviceFact.objects.create(
        device=device,
        hour=hour,
        site=site,
        measured_seconds=seconds,
        coverage=seconds / 3600,
        util_mean_pct=util,
        pue=pue,
        grid_gco2e_per_kwh=grid,
        grid_source="test",
        price_per_kwh=price,
        embodied_kgco2e_per_hour=EMBODIED_PER_HOUR,
        **values,
    )
    HourlyProjectFact.objects.create(
        device=device,
        hour=hour,
        project=project,
        attribution="tag" if project else "unallocated",
        team=project.team if project else None,
        site=site,
        phase=(phase or project.phase) if project else "",
        **values,
    )
    # The rollup keeps the daily aggregates beside the hours; whole days are read from them.
    daily_facts_refresh(start=hour, end=hour + timedelta(hours=1))


def record_units(project, day: date, units: float, *, days: int = 1):
    return WorkRecord.objects.create(
        project=project,
        period_start=at(day),
        period_end=at(day + timedelta(days=days)),
        units=units,
    )


def write_daily_usage(device, project, first_day: date, days: int, *, it_kwh, units, hour=10):
    """One busy hour a day and the day's units: enough for per-unit figures, few rows."""
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        write_hour(device, at(day, hour), it_kwh=it_kwh, project=project)
        if units:
            record_units(project, day, units)


def make_user(username, role, teams=()):
    # No password: tests log in with force_login, and hashing one is slow.
    user = get_user_model().objects.create(username=username)
    profile = UserProfile.objects.create(user=user, role=role)
    profile.teams.set(teams)
    return user
