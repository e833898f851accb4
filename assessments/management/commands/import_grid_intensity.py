"""manage.py import_grid_intensity FILE --zone ZONE [--column lca|direct]: an hourly grid series."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from assessments.models import GridZone
from assessments.organisation.grid_import import (
    BASIS_DIRECT,
    BASIS_LCA,
    GridImportError,
    close_zone_codes,
    grid_series_save,
    parse_grid_csv,
    zone_mismatch,
)
from assessments.organisation.services import zone_hours_mark


class Command(BaseCommand):
    help = (
        "Import an hourly grid carbon-intensity series (gCO2e/kWh) for one grid zone: a CSV "
        "with a timestamp and a gCO2e/kWh column, or an Electricity Maps hourly export. Each "
        "value holds for the hour starting at its timestamp (UTC). Facts of the hours covered "
        "are recomputed with the new values."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file.")
        parser.add_argument(
            "--zone", required=True, help='GreenAI grid zone: "FRA" or "gcp:europe-west9".'
        )
        parser.add_argument(
            "--column",
            choices=[BASIS_LCA, BASIS_DIRECT],
            default=BASIS_LCA,
            help="Electricity Maps column: life-cycle (lca, default, consistent with the annual "
            "defaults) or direct (GHG Protocol Scope 2 location-based). For a generic CSV: "
            "the basis its values are on.",
        )
        parser.add_argument("--source", help="Source to record; default: described from the file.")

    def handle(self, *args, file, zone, column, source=None, **options):
        grid_zone = GridZone.objects.filter(code=zone).first()
        if grid_zone is None:
            close = close_zone_codes(zone)
            hint = f" Close matches: {', '.join(close)}." if close else ""
            raise CommandError(
                f"Unknown grid zone {zone!r}: use an ISO 3166 alpha-3 code (FRA) or "
                f"provider:region (gcp:europe-west9).{hint}"
            )
        try:
            text = Path(file).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot be read: {exc}") from exc
        try:
            series = parse_grid_csv(text, file_name=file, basis=column)
        except GridImportError as exc:
            raise CommandError(f"Nothing imported. {exc}") from exc
        source = source or series.describe_source(Path(file).name)
        warning = zone_mismatch(series, grid_zone)
        if warning:
            self.stderr.write(f"Warning: {warning}")
        with transaction.atomic():
            stored = grid_series_save(zone_code=zone, series=series, source=source)
            marked = zone_hours_mark(zone_code=zone, start=series.start, end=series.end)
        self.stdout.write(
            f"{zone}: {stored} hours from {series.start:%Y-%m-%d %H:%M} to "
            f"{series.end:%Y-%m-%d %H:%M} UTC ({series.column}; source: {source}); "
            f"{marked} device-hours marked for recompute."
        )
