"""Factor ranges, grid sources and notes per site-day (DailySiteFactors), filled from the
device-days already aggregated, so whole-day reads of the factors no longer scan every device."""

import django.db.models.deletion
from django.db import migrations, models

from assessments.footprint.daily_facts import factor_ranges_combine

RANGES = ("pue_min", "pue_max", "price_min", "price_max", "grid_min", "grid_max")


def fill(apps, schema_editor):
    DailyDeviceFact = apps.get_model("assessments", "DailyDeviceFact")
    DailySiteFactors = apps.get_model("assessments", "DailySiteFactors")
    days = DailyDeviceFact.objects.values_list("day", flat=True).distinct().order_by("day")
    for day in days.iterator():
        rows = DailyDeviceFact.objects.filter(day=day).values_list(
            "site_id", *RANGES, "grid_sources", "factor_notes"
        )
        DailySiteFactors.objects.bulk_create(
            DailySiteFactors(day=day, site_id=site_id, **figures)
            for site_id, figures in factor_ranges_combine(rows.order_by()).items()
        )


class Migration(migrations.Migration):

    dependencies = [
        ('assessments', '0007_recommendation_monthly_facility_energy_kwh'),
    ]

    operations = [
        migrations.CreateModel(
            name='DailySiteFactors',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('pue_min', models.FloatField(blank=True, null=True)),
                ('pue_max', models.FloatField(blank=True, null=True)),
                ('price_min', models.FloatField(blank=True, null=True)),
                ('price_max', models.FloatField(blank=True, null=True)),
                ('grid_min', models.FloatField(blank=True, null=True)),
                ('grid_max', models.FloatField(blank=True, null=True)),
                ('grid_sources', models.JSONField(blank=True, default=list)),
                ('factor_notes', models.JSONField(blank=True, default=list)),
                ('site', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='assessments.site')),
            ],
            options={
                'indexes': [models.Index(fields=['day', 'site'], name='dailysitefactors_day_site')],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
