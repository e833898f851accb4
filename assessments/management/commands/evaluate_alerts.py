"""manage.py evaluate_alerts: evaluate every alert rule now (Celery does it on its schedule)."""

from django.core.management.base import BaseCommand

from assessments.watch.notify import notifications_queue
from assessments.watch.services import alerts_evaluate


class Command(BaseCommand):
    help = (
        "Evaluate every enabled alert rule now: open an episode for each rule over its "
        "threshold, resolve those back below it, and queue their notifications."
    )

    def handle(self, *args, **options):
        changes = alerts_evaluate()
        notifications_queue(changes)
        for change in changes:
            episode = change.episode
            self.stdout.write(f"{change.event}: {episode.rule} - {episode.summary}")
        self.stdout.write(f"{len(changes)} alert(s) changed.")
