"""manage.py dump_inventory [--output FILE]: the inventory in the format load_inventory reads."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from assessments.organisation.inventory import inventory_dump


class Command(BaseCommand):
    help = "Write the organisation's inventory as YAML (stdout, or --output FILE)."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="File to write; default: standard output.")

    def handle(self, *args, output=None, **options):
        text = inventory_dump()
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{output}: cannot be written: {exc}") from exc
        self.stderr.write(f"Inventory written to {output}")
