"""Rescore accounts under the active definition: gather facts in SQL, evaluate
them with the pure engine, write changed results in bulk, move lead
statuses between signed up and PQL and route new PQLs to reps.

One account or all of them take the same path: the facts of every account in
scope come from a few queries at once, then results are stored in chunks so
that each transaction stays bounded.
"""

import gc
import hashlib
import json
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from leads.models import LeadStatus, StatusCause
from leads.routing import assign_new_pqls
from leads.services import move_accounts

from .engine import AccountFacts, Result, Scorecard, evaluate, explain
from .facts import Book, gather_facts
from .models import AccountScore, ScoringRun
from .scorecards import active_scorecard

CHUNK_SIZE = 10_000
UPSERT_BATCH = 1_000
RESULT_COLUMNS = [
    "account_id",
    "definition_id",
    "score",
    "activation",
    "tier",
    "qualifies",
    "triggered",
    "explanation",
    "digest",
    "computed_at",
    "priority",
]


@dataclass
class Outcome:
    scored: int = 0
    changed: int = 0
    statuses_changed: int = 0

    def add(self, other: "Outcome") -> None:
        self.scored += other.scored
        self.changed += other.changed
        self.statuses_changed += other.statuses_changed


@dataclass
class Encoded:
    """A result with a stable hash of everything stored, to skip unchanged writes."""

    result: Result
    digest: str

    @property
    def explanation(self) -> str:
        return json.dumps(self.result.explanation, separators=(",", ":"))


def encode(result: Result, definition_id: int | None) -> Encoded:
    fingerprint = repr(
        (
            definition_id,
            result.score,
            result.activation,
            str(result.tier),
            result.qualifies,
            result.triggered,
            result.explanation,
        )
    )
    return Encoded(result, hashlib.sha1(fingerprint.encode(), usedforsecurity=False).hexdigest())


@contextmanager
def gc_paused():
    """A rescore holds every account's facts at once; the cyclic collector
    would rescan them over and over as results are built, for nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def write_results(encoded: list[Encoded], *, definition_id, computed_at: datetime) -> set[int]:
    """Upsert results; a row computed later than ours is left alone.

    Returns the account ids whose row now holds our result.
    """
    if not encoded:
        return set()
    rows = [
        (
            item.result.account_id,
            definition_id,
            item.result.score,
            item.result.activation,
            item.result.tier,
            item.result.qualifies,
            item.result.triggered,
            item.explanation,
            item.digest,
            computed_at,
            item.result.priority,
        )
        for item in encoded
    ]
    quote = connection.ops.quote_name
    table = quote(AccountScore._meta.db_table)
    columns = ", ".join(quote(column) for column in RESULT_COLUMNS)
    upsert = (
        "ON CONFLICT (account_id) DO UPDATE SET "
        + ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in RESULT_COLUMNS[1:])
        + f" WHERE {table}.computed_at <= EXCLUDED.computed_at RETURNING account_id"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(rows) > UPSERT_BATCH:
            return upsert_by_copy(cursor, rows, table=table, columns=columns, upsert=upsert)
        return upsert_by_values(cursor, rows, table=table, columns=columns, upsert=upsert)


def upsert_by_copy(cursor, rows, *, table, columns, upsert) -> set[int]:
    """PostgreSQL: COPY into a session temp table, then one INSERT ... SELECT."""
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS incoming_scores (LIKE {table}) ON COMMIT DELETE ROWS"
    )
    with cursor.cursor.copy(f"COPY incoming_scores ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM incoming_scores {upsert}"  # noqa: S608
    )
    applied = {row[0] for row in cursor.fetchall()}
    # Chunks may share one outer transaction: empty the table for the next one.
    cursor.execute("TRUNCATE incoming_scores")
    return applied


def upsert_by_values(cursor, rows, *, table, columns, upsert) -> set[int]:
    """A multi-row INSERT: fewest round trips for one account or a few."""
    adapt = connection.ops.adapt_datetimefield_value
    json_placeholder = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    row_placeholder = "(" + ", ".join(["%s"] * 7 + [json_placeholder, "%s", "%s", "%s"]) + ")"
    applied = set()
    for start in range(0, len(rows), UPSERT_BATCH):
        batch = [(*row[:-2], adapt(row[-2]), row[-1]) for row in rows[start : start + UPSERT_BATCH]]
        placeholders = ", ".join([row_placeholder] * len(batch))
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES {placeholders} {upsert}",  # noqa: S608
            [value for row in batch for value in row],
        )
        applied.update(row[0] for row in cursor.fetchall())
    return applied


def apply_chunk(card: Scorecard, facts: list[AccountFacts], book: Book, *, now: datetime) -> Outcome:
    """Evaluate a chunk of accounts and store it, in one transaction.

    Status moves are decided at lock time against the stored results, so a
    lead status always follows the newest result, whoever wrote it.
    """
    encoded = [encode(evaluate(card, account_facts), card.id) for account_facts in facts]
    changed = [item for item in encoded if book.digests.get(item.result.account_id) != item.digest]
    qualifying = {
        item.result.account_id: item.result
        for item in encoded
        if item.result.qualifies and book.statuses.get(item.result.account_id) == LeadStatus.SIGNED_UP
    }
    dropping = [
        item.result.account_id
        for item in encoded
        if not item.result.qualifies and book.statuses.get(item.result.account_id) == LeadStatus.PQL
    ]
    words = {account_id: explain(card, result) for account_id, result in qualifying.items()}
    with transaction.atomic():
        applied = write_results(changed, definition_id=card.id, computed_at=now)
        moved = move_accounts(
            account_ids=qualifying,
            from_status=LeadStatus.SIGNED_UP,
            to_status=LeadStatus.PQL,
            cause=StatusCause.SCORING,
            only_if=Q(score__qualifies=True),
            reasons={
                account_id: "Qualified: " + "; ".join(explained["qualified_by"])
                for account_id, explained in words.items()
            },
            details={
                account_id: {
                    "definition": card.name,
                    "score": qualifying[account_id].score,
                    "activation": qualifying[account_id].activation,
                    "qualified_by": explained["qualified_by"],
                    "reasons": explained["reasons"],
                }
                for account_id, explained in words.items()
            },
        )
        dropped = move_accounts(
            account_ids=dropping,
            from_status=LeadStatus.PQL,
            to_status=LeadStatus.SIGNED_UP,
            cause=StatusCause.SCORING,
            only_if=Q(score__qualifies=False),
            reasons=dict.fromkeys(dropping, f"No longer qualifies under {card.name}."),
        )
        # New PQLs go to a rep in the same transaction: none is seen unrouted.
        assigned = assign_new_pqls(moved)
    return Outcome(
        scored=len(encoded),
        changed=len(applied),
        statuses_changed=len(moved) + len(dropped) + len(assigned),
    )


def rescore_book(
    card: Scorecard,
    *,
    account_ids: list[int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Read the facts of the accounts in scope at once, then store chunk by chunk."""
    now = timezone.now()
    outcome = Outcome()
    with gc_paused():
        book = gather_facts(card, now=now, account_ids=account_ids)
        for start in range(0, len(book.facts), CHUNK_SIZE):
            chunk = apply_chunk(card, book.facts[start : start + CHUNK_SIZE], book, now=now)
            outcome.add(chunk)
            if progress:
                progress(chunk.scored)
    return outcome


def rescore_accounts(account_ids: Iterable[int]) -> Outcome:
    """Rescore some accounts (after new events) under the active definition."""
    card = active_scorecard()
    ids = sorted(set(account_ids))
    if card is None or not ids:
        return Outcome()
    return rescore_book(card, account_ids=ids)


def rescore_all(*, reason: str = "", progress: Callable[[int], None] | None = None) -> ScoringRun:
    """Rescore every account and record the run."""
    card = active_scorecard()
    run = ScoringRun.objects.create(
        definition_id=card.id if card else None, reason=reason, started_at=timezone.now()
    )
    outcome = rescore_book(card, progress=progress) if card else Outcome()
    ScoringRun.objects.filter(pk=run.pk).update(
        finished_at=timezone.now(),
        accounts_scored=outcome.scored,
        results_changed=outcome.changed,
        statuses_changed=outcome.statuses_changed,
    )
    run.refresh_from_db()
    return run
