"""Daily range facts (per project and host, and per host) and what the ranges read of each
device, kept with its in-service window (footprint.scope_ranges); their data in 0017."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('assessments', '0015_factor_changes'),
        ('collectors', '0006_host_bounds_device_source'),
    ]

    operations = [
        migrations.AddField(
            model_name='deviceinservice',
            name='gpu_kgco2e_per_hour',
            field=models.FloatField(default=0),
        ),
        migrations.AddField(
            model_name='deviceinservice',
            name='gpu_model',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name='deviceinservice',
            name='measurement',
            field=models.CharField(blank=True, max_length=12),
        ),
        migrations.CreateModel(
            name='DailyHostRangeFact',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('energy_it_kwh', models.FloatField(default=0)),
                ('energy_facility_kwh', models.FloatField(default=0)),
                ('operational_kgco2e', models.FloatField(default=0)),
                ('embodied_kgco2e', models.FloatField(default=0)),
                ('cost', models.FloatField(default=0)),
                ('gpu_hours', models.FloatField(default=0)),
                ('day', models.DateField()),
                ('measurement', models.CharField(blank=True, max_length=12)),
                ('host', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='collectors.host')),
                ('site', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='assessments.site')),
            ],
            options={
                'indexes': [models.Index(fields=['day'], name='dailyhostrange_day')],
            },
        ),
        migrations.CreateModel(
            name='DailyRangeFact',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('energy_it_kwh', models.FloatField(default=0)),
                ('energy_facility_kwh', models.FloatField(default=0)),
                ('operational_kgco2e', models.FloatField(default=0)),
                ('embodied_kgco2e', models.FloatField(default=0)),
                ('cost', models.FloatField(default=0)),
                ('gpu_hours', models.FloatField(default=0)),
                ('day', models.DateField()),
                ('phase', models.CharField(blank=True, max_length=20)),
                ('measurement', models.CharField(blank=True, max_length=12)),
                ('host', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='collectors.host')),
                ('project', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='assessments.project')),
                ('site', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='assessments.site')),
                ('team', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='assessments.team')),
            ],
            options={
                'indexes': [models.Index(fields=['day'], name='dailyrange_day'), models.Index(fields=['project', 'day'], name='dailyrange_project_day'), models.Index(fields=['team', 'day'], name='dailyrange_team_day')],
            },
        ),
    ]
