"""Small factories for the rollup, footprint and read-API tests, with round factor values.

The standard scenario: site "lab" in grid zone "TST-ZONE" (400 gCO2e/kWh annual), PUE 1.5,
0.20 EUR/kWh; a host whose embodied carbon is 35,040 kg over 4 years (1 kg/h, shared among its
GPUs) and GPUs of a model with 26,280 kg over 3 years (1 kg/h each). One GPU on the host:
2 kgCO2e embodied per device-hour.
"""

import itertools
import uuid
from datetime import UTC, datetime, timedelta

from assessments.footprint import footprint_math as fm
from assessments.models import (
    Allocation,
    GridIntensityHour,
    GridZone,
    HardwareModel,
    Project,
    Site,
    Team,
)
from collectors.models import Collector, Device, DirtyHour, Host, IngestBatch, RawSample

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC
HOUR = timedelta(hours=1)
_numbers = itertools.count(1)


def make_zone(code="TST-ZONE", gco2e_per_kwh=400.0):
    zone, _ = GridZone.objects.update_or_create(
        code=code,
        defaults={
            "name": f"Test zone {code}",
            "gco2e_per_kwh": gco2e_per_kwh,
            "year": 2024,
            "source": "test annual value",
        },
    )
    return zone


def make_site(name="lab", zone="TST-ZONE", pue=1.5, price=0.20):
    make_zone(zone)
    return Site.objects.create(
        name=name,
        grid_zone=zone,
        pue=pue,
        pue_source="test PUE",
        energy_price_per_kwh=price,
        price_source="test tariff",
    )


def make_gpu_model(name="Test GPU 9000", kg=26280.0, years=3.0):
    model, _ = HardwareModel.objects.get_or_create(
        kind=HardwareModel.Kind.GPU,
        name=name,
        defaults={"embodied_kgco2e": kg, "lifetime_years": years, "source": "test model"},
    )
    return model


def make_host(site=None, hostname=None, kg=35040.0, years=4.0, purchased=None):
    return Host.objects.create(
        hostname=hostname or f"node-{next(_numbers)}",
        site=site,
        embodied_kgco2e=kg,
        embodied_source="test host",
        lifetime_years=years,
        purchased=purchased,
    )


def make_device(host, index=0, name="Test GPU 9000", kind="gpu", first_seen_at=None):
    return Device.objects.create(
        uuid=f"GPU-{next(_numbers):08d}",
        host=host,
        index=index,
        kind=kind,
        name=name,
        gpu_model_override=make_gpu_model() if kind == "gpu" else None,
        first_seen_at=first_seen_at or T0 - timedelta(days=1),
    )


def make_project(slug="llm", team_name="NLP", phase="training"):
    team, _ = Team.objects.get_or_create(name=team_name, defaults={"slug": team_name.lower()})
    return Project.objects.create(slug=slug, name=slug.upper(), team=team, phase=phase)


def make_allocation(project, host, start, end=None, device_indexes=None):
    return Allocation.objects.create(
        project=project, host=host, start=start, end=end, device_indexes=device_indexes
    )


def add_hourly_grid(zone_code, hour, gco2e_per_kwh):
    return GridIntensityHour.objects.create(
        zone=GridZone.objects.get(code=zone_code),
        hour=hour,
        gco2e_per_kwh=gco2e_per_kwh,
        source="test hourly series",
    )


def add_samples(
    device, *, end, count=1, every_s=1.0, power_w=None, energy_j=None, tags=None, util_pct=None
):
    """`count` back-to-back samples of `every_s` seconds, the last ending at `end`; marks dirty.

    Marks every hour an interval touches, the way ingest does.
    """
    rows = []
    for n in range(count):
        ts = end - timedelta(seconds=every_s * (count - 1 - n))
        joules = energy_j if energy_j is not None else power_w * every_s
        rows.append(
            RawSample(
                device=device,
                ts=ts,
                duration_s=every_s,
                energy_j=joules,
                power_w=joules / every_s if every_s else None,
                util_pct=util_pct,
                tags=tags,
            )
        )
    batch = _ingest_batch(device)
    for row in rows:
        row.batch = batch
    RawSample.objects.bulk_create(rows)
    mark_dirty(device, rows, batch=batch)
    return rows


def _ingest_batch(device):
    collector, _ = Collector.objects.get_or_create(
        name="factory-collector", defaults={"token_prefix": "factory", "token_digest": "-"}
    )
    return IngestBatch.objects.create(batch_id=uuid.uuid4(), collector=collector, host=device.host)


def mark_dirty(device, samples, batch=None):
    """One mark per hour touched, naming the batch (as ingest does); without a batch, a
    recompute request."""
    hours = set()
    for sample in samples:
        for hour_s in fm.hours_touched(sample.ts.timestamp(), sample.duration_s):
            hours.add(datetime.fromtimestamp(hour_s, UTC))
    DirtyHour.objects.bulk_create(
        [
            DirtyHour(
                device=device,
                hour=hour,
                marked_at=datetime.now(UTC),
                batch_id=batch.pk if batch else None,
            )
            for hour in sorted(hours)
        ]
    )
