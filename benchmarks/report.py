"""Time to generate the demo organisation's monthly report (PDF); target under 20 s.

    .venv/bin/python benchmarks/report.py [--days 90] [--server postgres://postgres@127.0.0.1:5432]
        [--runs 2] [--keep] [--reuse]

Creates its own database (greenai_bench_report), loads the demo organisation with
`manage.py seed_demo --days N` (real ingest and rollup; not timed), then times
`assessments.reports.services.report_generate` for last month: the organisation's report (charts
through Chromium, WeasyPrint, storage) and each team's. Prints the figures and the PDF's path;
the database is dropped afterwards unless --keep.
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench_db import drop_database, recreate_database

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "greenai_bench_report"
TARGET_SECONDS = 20.0


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90, help="days of demo history (default 90)")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--runs", type=int, default=2, help="organisation reports to time")
    parser.add_argument(
        "--reuse", action="store_true", help="use the database a --keep run left; skip seeding"
    )
    return parser.parse_args()


def setup_django(server: str, media_root: str) -> None:
    os.environ["DATABASE_URL"] = f"{server}/{DB_NAME}"
    os.environ["MEDIA_ROOT"] = media_root
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "greenai_site.settings")
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ["CACHE_URL"] = "locmem://"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def main() -> None:
    args = parse_args()
    if not args.reuse:
        recreate_database(args.server, DB_NAME)
    media_root = tempfile.mkdtemp(prefix="greenai-bench-report-")
    setup_django(args.server, media_root)
    from django.core.management import call_command
    from django.utils import timezone

    from assessments.models import Team
    from assessments.reports.selectors import previous_month
    from assessments.reports.services import report_generate

    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        if not args.reuse:
            call_command("seed_demo", days=args.days, stdout=open(os.devnull, "w"))  # noqa: SIM115
        seed_s = time.perf_counter() - started
        month = previous_month(timezone.now().date())

        org_times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            report = report_generate(month=month)
            org_times.append(time.perf_counter() - started)
        team_times = {}
        for team in Team.objects.order_by("name"):
            started = time.perf_counter()
            report_generate(month=month, team=team)
            team_times[team.name] = time.perf_counter() - started

        print(
            f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.node()} "
            f"({os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()})"
        )
        if args.reuse:
            print("demo database reused from an earlier --keep run")
        else:
            print(f"demo seeded ({args.days} days) in {seed_s:.1f} s (not timed below)")
        print(f"report month: {month:%Y-%m}; energy {report.totals['energy_kwh']:,.1f} kWh")
        for number, seconds in enumerate(org_times, 1):
            print(f"organisation report, run {number}: {seconds:.2f} s")
        for name, seconds in team_times.items():
            print(f"team {name} report: {seconds:.2f} s")
        best = min(org_times)
        verdict = "meets" if best < TARGET_SECONDS else "MISSES"
        print(
            f"organisation report (best of {len(org_times)}): {best:.2f} s "
            f"- {verdict} the {TARGET_SECONDS:.0f} s target"
        )
        print(f"PDF: {report.file.path}")
    finally:
        if not args.keep:
            drop_database(args.server, DB_NAME)


if __name__ == "__main__":
    main()
