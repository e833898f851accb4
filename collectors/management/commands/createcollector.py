"""manage.py createcollector NAME [--team SLUG]: a new collector; its token is printed once."""

from django.core.management.base import BaseCommand, CommandError

from assessments.models import Team
from collectors.services import collector_create


class Command(BaseCommand):
    help = "Create a collector and print its token once (only a keyed hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="A unique name, e.g. the cluster or host group.")
        parser.add_argument("--team", metavar="SLUG", help="The team the collector belongs to.")

    def handle(self, *args, name, team, **options):
        team_obj = None
        if team:
            team_obj = Team.objects.filter(slug=team).first()
            if team_obj is None:
                known = ", ".join(Team.objects.order_by("slug").values_list("slug", flat=True))
                raise CommandError(f"No team with slug {team!r}. Known teams: {known or 'none'}.")
        try:
            collector, token = collector_create(name=name, team=team_obj)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(
            f"Collector {collector.name!r} created. Its token follows; it is shown only once:"
        )
        self.stdout.write(token)
