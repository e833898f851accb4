"""manage.py load_inventory FILE.yaml: create or update what the organisation knows.

The format: docs/architecture.md, 4.5.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from assessments.organisation.inventory import InventoryError, inventory_load


class Command(BaseCommand):
    help = (
        "Load an inventory YAML file (organisation, sites, hosts, gpu_models, teams, projects, "
        "allocations): idempotent by natural keys, all or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Inventory YAML file.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and report, write nothing."
        )
        parser.add_argument(
            "--allow-cross-team",
            action="store_true",
            help="Load allocations that share devices and time with another team's allocation "
            "(each is reported as a warning); without it such a file is refused.",
        )

    def handle(self, *args, file, dry_run, allow_cross_team, **options):
        try:
            text = Path(file).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot be read: {exc}") from exc
        try:
            result = inventory_load(
                text=text, file_name=file, dry_run=dry_run, allow_cross_team=allow_cross_team
            )
        except InventoryError as exc:
            raise CommandError(f"{file} was not loaded; nothing changed:\n{exc}") from exc
        self.stdout.write(result.summary())
        if dry_run:
            self.stdout.write("Dry run: nothing was written.")
        elif not result.changed:
            self.stdout.write("No change.")
