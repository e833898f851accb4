"""manage.py load_reference_data: (re)load the shipped grid zones and hardware models."""

from django.core.management.base import BaseCommand

from assessments.organisation.reference_data import load_reference_data


class Command(BaseCommand):
    help = (
        "Create or refresh the shipped reference factors (grid intensity of countries and cloud "
        "regions, embodied carbon of GPU models and host classes). Rows whose source you "
        "changed are yours and are kept. Runs after every migrate as well."
    )

    def handle(self, *args, **options):
        for what, counts in load_reference_data().items():
            self.stdout.write(
                f"{what}: {counts.created} created, {counts.updated} updated, "
                f"{counts.unchanged} unchanged, {counts.kept_user_value} kept (changed by you)"
            )
