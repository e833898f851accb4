"""manage.py handoverhost HOSTNAME COLLECTOR|--unowned: give a host and its devices to another
collector (and so to that collector's team)."""

from django.core.management.base import BaseCommand, CommandError

from collectors.models import Host
from collectors.selectors import collector_by_name
from collectors.services import host_hand_over


class Command(BaseCommand):
    help = (
        "Hand a host and its devices over to another collector; without one (--unowned), the "
        "next collector that reports the host takes it."
    )

    def add_arguments(self, parser):
        parser.add_argument("hostname")
        parser.add_argument("collector", nargs="?", help="The name of the new owner.")
        parser.add_argument("--unowned", action="store_true", help="Leave the host unowned.")

    def handle(self, *args, hostname, collector, unowned, **options):
        if bool(collector) == unowned:
            raise CommandError("Name the new collector, or give --unowned (not both).")
        host = Host.objects.select_related("collector").filter(hostname=hostname).first()
        if host is None:
            raise CommandError(f"No host named {hostname!r}.")
        new_owner = None
        if collector:
            new_owner = collector_by_name(collector)
            if new_owner is None:
                raise CommandError(f"No collector named {collector!r}.")
            if new_owner.is_revoked:
                raise CommandError(f"Collector {collector!r} is revoked.")
        previous = host.collector.name if host.collector else "nobody"
        host_hand_over(host=host, collector=new_owner)
        target = new_owner.name if new_owner else "nobody (the next collector reporting it)"
        self.stdout.write(f"Host {hostname!r} handed over from {previous} to {target}.")
