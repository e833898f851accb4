"""manage.py revokecollector NAME: refuse the collector's token from now on."""

from django.core.management.base import BaseCommand, CommandError

from collectors.selectors import collector_by_name
from collectors.services import collector_revoke


class Command(BaseCommand):
    help = "Revoke a collector's token. Its hosts, devices and samples stay."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        collector = collector_by_name(name)
        if collector is None:
            raise CommandError(f"No collector named {name!r}.")
        already = collector.is_revoked
        collector_revoke(collector=collector)
        when = collector.revoked_at.isoformat(timespec="seconds")
        verb = "was already revoked" if already else "is revoked"
        self.stdout.write(f"Collector {collector.name!r} {verb} (since {when}).")
