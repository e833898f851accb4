"""`manage.py monthly_report YYYY-MM [--team SLUG] [--output FILE]` (docs/reports.md)."""

import shutil
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from assessments.models import Team
from assessments.reports.report_summary import parse_month
from assessments.reports.services import ReportError, report_generate, reports_email


class Command(BaseCommand):
    help = (
        "Generate the monthly sustainability report (PDF) of the organisation or one team, "
        "store it with the reports, and print the path of the PDF."
    )

    def add_arguments(self, parser):
        parser.add_argument("month", help="The month to report on, YYYY-MM (e.g. 2026-10).")
        parser.add_argument("--team", metavar="SLUG", help="Report on this team only.")
        parser.add_argument(
            "--output", metavar="FILE", help="Also write the PDF to FILE and print that path."
        )
        parser.add_argument(
            "--email",
            action="store_true",
            help="E-mail the PDF to the configured report recipients.",
        )

    def handle(self, *args, month, team=None, output=None, email=False, **options):
        try:
            first_day = parse_month(month)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        team_obj = None
        if team:
            team_obj = Team.objects.filter(slug=team).first()
            if team_obj is None:
                known = ", ".join(Team.objects.order_by("slug").values_list("slug", flat=True))
                raise CommandError(f"No team with slug {team!r}. Known teams: {known or 'none'}.")
        if output:
            target = Path(output).expanduser()
            if target.is_dir():
                raise CommandError(f"--output {output!r} is a directory; name a file.")
            if not target.parent.exists():
                raise CommandError(f"--output {output!r}: folder {target.parent} does not exist.")
        try:
            report = report_generate(month=first_day, team=team_obj)
        except ReportError as exc:
            raise CommandError(f"The report for {month} could not be made: {exc}") from exc

        if output:
            with report.file.open("rb") as source, open(target, "wb") as destination:
                shutil.copyfileobj(source, destination)
            path = str(target.resolve())
        else:
            path = _storage_path(report.file)
        if email:
            try:
                sent_to = reports_email(reports=[report])
            except Exception as exc:  # SMTP and socket errors of many kinds
                raise CommandError(
                    f"The report is stored ({path}) but e-mailing it failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            message = f"E-mailed to {', '.join(sent_to)}" if sent_to else "No recipients set"
            self.stderr.write(message)
        self.stdout.write(path)


def _storage_path(file) -> str:
    """The file's local path where the storage has one, else its name in the storage."""
    try:
        return file.path
    except NotImplementedError:
        return file.name
