"""manage.py seed_demo: load the demo organisation with its history (docs/architecture.md, 4.4).

    manage.py seed_demo [--days 90] [--if-empty] [--password PW | --no-logins]
                        [--live-token-file FILE]

Safe to run again: nothing is stored twice, and the history is extended up to now. The demo
logins are created, or their password reset, on every run (the run command relies on it).
"""

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from assessments.demo import seed as demo_seed


class Command(BaseCommand):
    help = "Load the demo organisation and its history through the real ingest and rollup."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=90,
            help="Days of history before today (default 90).",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Load the demo only into an empty database, or one holding the demo already "
            "(an interrupted seeding is completed, the history extended up to now); leave any "
            "other organisation alone. The logins (and the live token) are ensured either way.",
        )
        parser.add_argument(
            "--password",
            default=os.environ.get("DEMO_PASSWORD", demo_seed.DEFAULT_DEMO_PASSWORD),
            help="Password of the demo logins (default: $DEMO_PASSWORD or "
            f"{demo_seed.DEFAULT_DEMO_PASSWORD!r}).",
        )
        parser.add_argument(
            "--no-logins",
            action="store_true",
            help="Do not create the demo logins (admin, engineer, viewer), e.g. when loading "
            "the demo into an installation that has its own users.",
        )
        parser.add_argument(
            "--live-token-file",
            type=Path,
            help="Write the live demo agent's collector token to this file (created or reused).",
        )

    def handle(self, *args, days, if_empty, password, no_logins, live_token_file, **options):
        if days < 1:
            raise CommandError(f"--days must be at least 1, got {days}.")
        if len(password) < 8:
            raise CommandError("--password must be at least 8 characters long.")
        if if_empty and demo_seed.database_has_own_data():
            self.stdout.write("The database already holds an organisation: not seeding.")
        else:
            self._seed(days)
        if not no_logins:
            logins = demo_seed.demo_users_ensure(password=password)
            self.stdout.write(f"Demo logins (password: {password}):")
            for username, role, teams in logins:
                team_note = f", team {teams}" if teams else ""
                self.stdout.write(f"  {username:<10} {role}{team_note}")
        if live_token_file:
            demo_seed.live_collector_token(token_file=live_token_file)
            self.stdout.write(
                f"Token of the live agent ({demo_seed.LIVE_COLLECTOR}) in {live_token_file}"
            )

    def _seed(self, days: int) -> None:
        if demo_seed.demo_is_seeded():
            self.stdout.write(f"Completing the demo's {days} days of history up to now")
        else:
            self.stdout.write(f"Seeding the demo organisation with {days} days of history")
        # The raw stream: the progress bar redraws its line with "\r" on a terminal.
        stream = getattr(self.stdout, "_out", self.stdout)
        result = demo_seed.seed_demo(days=days, out=stream)
        seconds = result.seconds
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo seeded: {result.samples_stored:,} new samples of {result.samples_sent:,}"
                f" sent in {result.batches} batches ({result.duplicate_batches} already stored),"
                f" {result.hours_rolled_up:,} device-hours rolled up,"
                f" {result.work_records} daily work records, {result.grid_hours:,} grid hours."
            )
        )
        self.stdout.write(
            f"History {result.start:%Y-%m-%d %H:%M} to {result.end:%Y-%m-%d %H:%M} UTC;"
            f" chat-inference quantised on {result.optimisation_at:%Y-%m-%d}."
            f" Time: inventory {seconds['inventory']:.1f} s, ingest {seconds['ingest']:.1f} s,"
            f" rollup {seconds['rollup']:.1f} s."
        )
