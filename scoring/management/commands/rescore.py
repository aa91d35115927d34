"""Rescore accounts under the active PQL definition from the shell."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from leads.models import Account
from scoring import backlog, rescoring
from scoring.models import Definition
from scoring.starter import ensure_starter_definition


class Command(BaseCommand):
    help = "Rescore every account (or some) under the active PQL definition, in this process."

    def add_arguments(self, parser):
        parser.add_argument("--account", type=int, action="append", help="Only this account id (repeatable).")
        parser.add_argument(
            "--starter",
            action="store_true",
            help="Create the starter definition first, active if no definition is.",
        )
        parser.add_argument(
            "--catch-up",
            action="store_true",
            help="Only rescore what is held (Redis was unreachable, or a worker died mid-job), now.",
        )

    def handle(self, *args, account=None, starter=False, catch_up=False, **options):
        if catch_up:
            caught_up = backlog.catch_up(grace=timedelta(0))
            self.stdout.write(f"accounts={caught_up.accounts} full_rescore={caught_up.full_rescore}")
            return
        if starter:
            ensure_starter_definition()
        if not Definition.objects.active().exists():
            raise CommandError("No active PQL definition: activate one in the admin (or use --starter).")
        if account:
            outcome = rescoring.rescore_accounts(account)
            self.stdout.write(
                f"accounts={outcome.scored} changed={outcome.changed} statuses_changed={outcome.statuses_changed}"
            )
            return
        with tqdm(total=Account.objects.count(), unit="account", desc="rescore") as bar:
            run = rescoring.rescore_all(reason="manage.py rescore", progress=bar.update)
        self.stdout.write(
            f"accounts={run.accounts_scored} changed={run.results_changed} "
            f"statuses_changed={run.statuses_changed} seconds={run.seconds}"
        )
