"""Delete pending events older than the retention; the scheduled job does
the same daily."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from leads.ingest.pending import expire_pending_events


class Command(BaseCommand):
    help = "Delete pending events received more than PENDING_EVENT_RETENTION_DAYS days ago."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            help="Keep pending events received within this many days "
            "(default: PENDING_EVENT_RETENTION_DAYS).",
        )

    def handle(self, *args, days=None, **options):
        days = settings.PENDING_EVENT_RETENTION_DAYS if days is None else days
        if days < 0:
            raise CommandError("--days must not be negative.")
        expired = expire_pending_events(days=days)
        self.stdout.write(f"expired={expired} days={days}")
