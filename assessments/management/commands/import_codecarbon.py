"""manage.py import_codecarbon FILE.csv [--project SLUG]: CodeCarbon's emissions.csv, offline."""

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.management.base import BaseCommand, CommandError

from assessments.codecarbon.emissions_csv import CsvError
from assessments.codecarbon.services import codecarbon_csv_import
from assessments.models import Project


class Command(BaseCommand):
    help = (
        "Load CodeCarbon's own emissions.csv (offline mode). Rows go to the project their "
        "experiment_id is mapped to, or all to --project. Idempotent by run and timestamp: a "
        "file imported twice stores nothing the second time. A bad row stops the import with "
        "its line number, and nothing of the file is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="emissions.csv written by CodeCarbon.")
        parser.add_argument("--project", help="Slug of the project every row belongs to.")
        parser.add_argument(
            "--timezone",
            default="UTC",
            help="Time zone of the machine that wrote the file (CodeCarbon writes local time "
            "without an offset); default UTC.",
        )

    def handle(self, *args, file, project=None, timezone="UTC", **options):
        target = None
        if project:
            target = Project.objects.filter(slug=project).first()
            if target is None:
                raise CommandError(f"Unknown project {project!r}.")
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CommandError(f"Unknown time zone {timezone!r} (e.g. Europe/Paris).") from None
        try:
            text = Path(file).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot be read: {exc}") from exc
        try:
            result = codecarbon_csv_import(text=text, project=target, naive_tz=zone)
        except CsvError as exc:
            raise CommandError(f"{file}: nothing imported. {exc}") from exc
        self.stdout.write(
            f"{file}: {result.rows} row(s), {result.runs} run(s); {result.intervals_stored} "
            f"interval(s) stored, {result.energy_kwh_stored:.6g} kWh, for "
            f"{', '.join(result.projects)}."
        )
