"""Fill the daily range facts from the hourly project facts (the tables are new in 0016) and mark
every host's in-service rows for a rebuild (their new columns are filled by it)."""

from datetime import UTC

from django.db import migrations
from django.db.models import F, Sum
from django.db.models.functions import TruncDate

MEASURES = (
    "energy_it_kwh",
    "energy_facility_kwh",
    "operational_kgco2e",
    "embodied_kgco2e",
    "cost",
    "gpu_hours",
)


def measurement_of(kind: str, source: str) -> str:
    # As footprint.scope_ranges.measurement_of: a migration keeps its own copy (the rule may
    # change later, these rows were written by this one).
    if source == "simulated":
        return "simulated"
    return "nvml_gpu" if kind == "gpu" else "rapl_cpu"


def fill_range_days(apps, schema_editor):
    hourly = apps.get_model("assessments", "HourlyProjectFact")
    daily = apps.get_model("assessments", "DailyRangeFact")
    by_host = apps.get_model("assessments", "DailyHostRangeFact")
    stale = apps.get_model("assessments", "InServiceStale")
    rows = (
        hourly.objects.annotate(
            day=TruncDate("hour", tzinfo=UTC),
            device_host=F("device__host_id"),
            device_kind=F("device__kind"),
            device_source=F("device__source"),
        )
        .values(
            "day",
            "project_id",
            "team_id",
            "site_id",
            "phase",
            "device_host",
            "device_kind",
            "device_source",
        )
        .annotate(**{f"sum_{name}": Sum(name) for name in MEASURES})
        .order_by()
    )
    batch, hosts = [], {}
    for row in rows.iterator(chunk_size=5000):
        measurement = measurement_of(row["device_kind"], row["device_source"])
        sums = {name: row[f"sum_{name}"] or 0 for name in MEASURES}
        batch.append(
            daily(
                day=row["day"],
                project_id=row["project_id"],
                team_id=row["team_id"],
                site_id=row["site_id"],
                phase=row["phase"] or "",
                host_id=row["device_host"],
                measurement=measurement,
                **sums,
            )
        )
        host_key = (row["day"], row["site_id"], row["device_host"], measurement)
        total = hosts.setdefault(host_key, dict.fromkeys(MEASURES, 0.0))
        for name, value in sums.items():
            total[name] += value
        if len(batch) >= 5000:
            daily.objects.bulk_create(batch)
            batch = []
    daily.objects.bulk_create(batch)
    by_host.objects.bulk_create(
        (
            by_host(day=day, site_id=site_id, host_id=host_id, measurement=measurement, **sums)
            for (day, site_id, host_id, measurement), sums in hosts.items()
        ),
        batch_size=5000,
    )
    stale.objects.create(host_id=None)


class Migration(migrations.Migration):
    dependencies = [("assessments", "0016_ranges_by_host")]

    operations = [migrations.RunPython(fill_range_days, migrations.RunPython.noop)]
