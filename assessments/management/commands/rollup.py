"""manage.py rollup: recompute dirty hours now, or every hour of a period (optionally with new
factors)."""

from datetime import UTC, date, datetime

from django.core.management.base import BaseCommand, CommandError

from assessments.footprint.rollup import DEFAULT_BATCH_SIZE, rollup_dirty_hours
from assessments.organisation.services import facts_recompute


def _moment(value: str, name: str) -> datetime:
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(
            f"--{name}: expected YYYY-MM-DD or an ISO 8601 date-time, got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Recompute hourly facts now: the dirty hours (what the periodic task does), or with "
        "--start/--end every hour of that period (UTC; end exclusive). Past hours keep the "
        "factors stored with them unless --refresh-factors is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--start", help="UTC day YYYY-MM-DD or ISO date-time (inclusive)")
        parser.add_argument("--end", help="UTC day YYYY-MM-DD or ISO date-time (exclusive)")
        parser.add_argument(
            "--refresh-factors",
            action="store_true",
            help="Use today's factors (PUE, price, grid, embodied) instead of the stored ones.",
        )
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)

    def handle(
        self,
        *args,
        start=None,
        end=None,
        refresh_factors=False,
        batch_size=DEFAULT_BATCH_SIZE,
        **kw,
    ):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if (start is None) != (end is None):
            raise CommandError("give both --start and --end, or neither")
        if refresh_factors and start is None:
            raise CommandError("--refresh-factors needs --start and --end (the period to reprice)")
        if start is None:
            result = rollup_dirty_hours(batch_size=batch_size)
            marked = None
        else:
            first, last = _moment(start, "start"), _moment(end, "end")
            if last <= first:
                raise CommandError("--end must be after --start")
            marked, result = facts_recompute(
                start=first, end=last, refresh_factors=refresh_factors, batch_size=batch_size
            )
        if marked is not None:
            self.stdout.write(f"Marked {marked} device-hours for recompute.")
        self.stdout.write(
            f"Rolled up {result.hours} device-hours in {result.batches} batches "
            f"({result.device_facts} device facts, {result.project_facts} project facts) "
            f"in {result.seconds:.2f} s."
        )
        if result.failed:
            self.stderr.write(
                f"{result.failed} device-hours failed and stay dirty: see the log for why."
            )
