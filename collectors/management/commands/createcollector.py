"""manage.py createcollector NAME [--team SLUG] [--allow-backfill]: a new collector; its token is
printed once."""

from django.core.management.base import BaseCommand, CommandError

from assessments.models import Team
from collectors.services import collector_create


class Command(BaseCommand):
    help = "Create a collector and print its token once (only a keyed hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="A unique name, e.g. the cluster or host group.")
        parser.add_argument(
            "--team",
            metavar="SLUG",
            help="The team the collector belongs to: its hosts are that team's and its tags may "
            "name only that team's projects. Without it: an organisation-wide collector.",
        )
        parser.add_argument(
            "--allow-backfill",
            action="store_true",
            help="Accept samples older than the raw-sample retention (RAW_SAMPLE_RETENTION_DAYS)"
            ", though not before 2000: replaying a recorded trace, importing an old spool.",
        )

    def handle(self, *args, name, team, allow_backfill, **options):
        team_obj = None
        if team:
            team_obj = Team.objects.filter(slug=team).first()
            if team_obj is None:
                known = ", ".join(Team.objects.order_by("slug").values_list("slug", flat=True))
                raise CommandError(f"No team with slug {team!r}. Known teams: {known or 'none'}.")
        try:
            collector, token = collector_create(
                name=name, team=team_obj, allow_backfill=allow_backfill
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(
            f"Collector {collector.name!r} created. Its token follows; it is shown only once:"
        )
        self.stdout.write(token)
