"""Work records carry a kind and a source; projects declare the kind of their unit.

Existing projects get the kind their unit's name says (assessments.organisation.work_kinds:
"tokens" -> output_tokens, "requests"/"inferences" -> requests, else other) and their existing
work records, all posted by hand, get their project's kind."""

from django.conf import settings
from django.db import migrations, models

from assessments.organisation.work_kinds import kind_from_unit_name


def fill(apps, schema_editor):
    Project = apps.get_model("assessments", "Project")
    WorkRecord = apps.get_model("assessments", "WorkRecord")
    for project in Project.objects.only("pk", "work_unit").iterator():
        kind = kind_from_unit_name(project.work_unit)
        if kind != "other":
            Project.objects.filter(pk=project.pk).update(work_kind=kind)
            WorkRecord.objects.filter(project_id=project.pk).update(kind=kind)


class Migration(migrations.Migration):
    dependencies = [
        ("assessments", "0009_in_service"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="project",
            name="work_kind",
            field=models.CharField(
                choices=[
                    ("requests", "Requests"),
                    ("input_tokens", "Input tokens"),
                    ("output_tokens", "Output tokens"),
                    ("other", "Other (the project's unit)"),
                ],
                default="other",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="workrecord",
            name="job",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name="workrecord",
            name="kind",
            field=models.CharField(
                choices=[
                    ("requests", "Requests"),
                    ("input_tokens", "Input tokens"),
                    ("output_tokens", "Output tokens"),
                    ("other", "Other (the project's unit)"),
                ],
                default="other",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="workrecord",
            name="model_name",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="workrecord",
            name="source",
            field=models.CharField(
                choices=[("posted", "Posted"), ("measured", "Measured (serving engine counters)")],
                default="posted",
                max_length=10,
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="workrecord",
            constraint=models.UniqueConstraint(
                condition=models.Q(("source", "measured")),
                fields=("project", "kind", "model_name", "job", "period_end"),
                name="workrecord_measured_once",
            ),
        ),
    ]
