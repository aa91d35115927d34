"""Fill the database with demo data (leads.demo); also the insertion benchmark."""

import time
from datetime import UTC, date, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from leads.demo import seed_demo
from leads.models import Account


class Command(BaseCommand):
    help = (
        "Generate reproducible demo reps, accounts, people, events and lead histories. "
        "The last line reports the counts and insertion speed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=1500)
        parser.add_argument(
            "--days", type=int, default=120, help="Signups spread over this many days."
        )
        parser.add_argument("--events", type=int, default=None, help="Default: 60 per account.")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--reps", type=int, default=8, help="Reps to create when none exist.")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when any account exists."
        )
        parser.add_argument(
            "--anchor",
            type=date.fromisoformat,
            default=None,
            help="YYYY-MM-DD: no event after this day's UTC midnight. Default: today.",
        )

    def handle(self, *args, accounts, days, events, seed, reps, if_empty, anchor, **options):
        if accounts < 0 or days < 1 or reps < 0 or (events is not None and events < 0):
            raise CommandError("--accounts, --events and --reps must be >= 0, --days >= 1.")
        if if_empty and Account.objects.exists():
            self.stdout.write("Accounts exist already; seed_demo --if-empty did nothing.")
            return
        anchor_day = anchor or timezone.now().astimezone(UTC).date()
        with tqdm(total=accounts, unit="account", desc="seed_demo", disable=None) as bar:
            started = time.perf_counter()
            counts = seed_demo(
                accounts=accounts,
                days=days,
                events=accounts * 60 if events is None else events,
                seed=seed,
                anchor=datetime(anchor_day.year, anchor_day.month, anchor_day.day, tzinfo=UTC),
                reps=reps,
                on_progress=bar.update,
            )
            seconds = time.perf_counter() - started
        if counts.reps_created:
            self.stdout.write(f"Created {counts.reps_created} sales reps.")
        self.stdout.write(f"people={counts.people} status_changes={counts.status_changes}")
        self.stdout.write(
            f"accounts={counts.accounts} events={counts.events} seconds={seconds:.2f} "
            f"events_per_s={int(counts.events / seconds) if seconds > 0 else 0}"
        )
