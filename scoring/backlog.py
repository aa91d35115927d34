"""Rescores asked for and not yet known to be done, kept in the database.

New events reach the worker through Redis, which can be down, and a worker
can die mid-job. Neither may lose a rescore: an account is held here when its
rescore cannot be enqueued and while a job works on it, and released once the
job's results are committed. The catch-up pass, run every minute by the
scheduler and by `manage.py rescore --catch-up`, rescores what is still held.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from . import rescoring
from .models import DefinitionChange, PendingRescore, ScoringRun

log = logging.getLogger(__name__)

QUEUE_UNREACHABLE = "queue unreachable"
JOB_RUNNING = "job running"
CATCH_UP_LIMIT = 50_000
# SQLite limits the parameters of one statement.
ID_BATCH = 5_000


def hold(account_ids: Iterable[int], *, reason: str, at: datetime | None = None) -> bool:
    """Hold these accounts for a rescore; a later hold moves the time on, so
    an earlier job's release leaves it in place. False when the database
    cannot take it either (logged: the scheduled full rescore is then the
    last resort)."""
    at = at or timezone.now()
    ids = sorted(set(account_ids))
    try:
        PendingRescore.objects.bulk_create(
            [PendingRescore(account_id=i, requested_at=at, reason=reason) for i in ids],
            update_conflicts=True,
            unique_fields=["account"],
            update_fields=["requested_at", "reason"],
            batch_size=ID_BATCH,
        )
    except DatabaseError:
        log.exception("Could not hold %d account(s) for a rescore", len(ids))
        return False
    return True


def release(account_ids: Iterable[int], *, requested_by: datetime) -> int:
    """Release the holds placed up to `requested_by`: a rescore that read the
    data after that time has seen every event behind them."""
    ids = sorted(set(account_ids))
    released = 0
    for start in range(0, len(ids), ID_BATCH):
        released += PendingRescore.objects.filter(
            account_id__in=ids[start : start + ID_BATCH], requested_at__lte=requested_by
        ).delete()[0]
    return released


def due(*, now: datetime, grace: timedelta, limit: int = CATCH_UP_LIMIT) -> list[int]:
    """Held accounts that no running job accounts for any more: held longer
    than a job could take, or because the queue was unreachable."""
    return list(
        PendingRescore.objects.filter(requested_at__lte=now - grace)
        .order_by("requested_at")
        .values_list("account_id", flat=True)[:limit]
    )


def definition_changed_unscored(*, now: datetime, grace: timedelta) -> bool:
    """A definition saved (past the grace time) after the latest full rescore
    started: its full rescore was never enqueued, or its job died."""
    last_run = ScoringRun.objects.order_by("-started_at").values_list("started_at", flat=True).first()
    changes = DefinitionChange.objects.filter(changed_at__lte=now - grace)
    if last_run is not None:
        changes = changes.filter(changed_at__gt=last_run)
    return changes.exists()


@dataclass
class CaughtUp:
    account_ids: list[int] = field(default_factory=list)
    full_rescore: bool = False

    @property
    def accounts(self) -> int:
        return len(self.account_ids)


def catch_up(*, now: datetime | None = None, grace: timedelta | None = None) -> CaughtUp:
    """Rescore every held account that is due, and run a full rescore when a
    definition change never got one. Safe to run at any time and repeatedly;
    `grace` (default SCORING_CATCH_UP_GRACE) leaves running jobs their time."""
    now = now or timezone.now()
    if grace is None:
        grace = timedelta(seconds=settings.SCORING_CATCH_UP_GRACE)
    if definition_changed_unscored(now=now, grace=grace):
        rescoring.rescore_all(reason="catch-up: a definition change was not rescored")
        # The full rescore read everything after `now`: every hold up to it is done.
        PendingRescore.objects.filter(requested_at__lte=now).delete()
        return CaughtUp(full_rescore=True)
    caught_up = CaughtUp()
    while ids := due(now=now, grace=grace):
        rescoring.rescore_accounts(ids)
        release(ids, requested_by=now)
        caught_up.account_ids += ids
    return caught_up
