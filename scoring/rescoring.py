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
import logging
import marshal
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import orjson
from django.db import connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from leads.models import Account, LeadStatus, StatusCause
from leads.routing import assign_new_pqls
from leads.services import move_accounts

from .engine import AccountFacts, Result, Scorecard, evaluate, why_qualified
from .facts import RescoreInput, can_stream, gather_facts, stream_facts
from .models import AccountScore, ScoringRun
from .scorecards import active_scorecard

log = logging.getLogger(__name__)

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
    "next_change_at",
]


@dataclass
class RescoreTally:
    """What a rescore did: accounts scored, results written, statuses moved."""

    scored: int = 0
    changed: int = 0
    statuses_changed: int = 0

    def add(self, other: "RescoreTally") -> None:
        self.scored += other.scored
        self.changed += other.changed
        self.statuses_changed += other.statuses_changed


@dataclass
class HashedResult:
    """A result with a stable hash of everything stored, to skip unchanged writes."""

    result: Result
    digest: str

    @property
    def explanation(self) -> str:
        # Only changed results are written, so only they are turned into JSON.
        return explanation_json(self.result.explanation)


# An explanation is plain values built by the engine, never a cycle: the
# fallback encoder need not track every list it enters.
EXPLANATION_JSON = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def explanation_json(explanation: dict) -> str:
    """orjson, several times faster than the standard encoder; the standard
    one for what orjson refuses (an observed trait beyond 64-bit integers)."""
    try:
        return orjson.dumps(explanation).decode()
    except TypeError:
        return EXPLANATION_JSON.encode(explanation)


def encode(result: Result, definition_id: int | None) -> HashedResult:
    """Hash what is stored. marshal serializes these plain values (JSON types)
    several times faster than repr; version 0 has no back-references or
    interned-string markers, so equal values always give equal bytes."""
    fingerprint = (
        definition_id,
        result.score,
        result.activation,
        str(result.tier),
        result.qualifies,
        result.triggered,
        result.explanation,
        None if result.next_change_at is None else result.next_change_at.timestamp(),
    )
    try:
        serialized = marshal.dumps(fingerprint, 0)
    except ValueError:  # a value marshal does not know: hash its repr
        serialized = repr(fingerprint).encode()
    return HashedResult(result, hashlib.sha1(serialized, usedforsecurity=False).hexdigest())


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


def bulk_write(count: int) -> bool:
    """Whether this many results go through COPY (PostgreSQL, more than a batch)."""
    return connection.vendor == "postgresql" and count > UPSERT_BATCH


def write_results(
    encoded: list[HashedResult], *, definition_id, computed_at: datetime, copy: str | None = None
) -> set[int]:
    """Upsert results; a row computed later than ours is left alone.

    `copy` is copy_text() of the same results when the caller built it
    already. Returns the account ids whose row now holds our result.
    """
    if not encoded:
        return set()
    quote = connection.ops.quote_name
    table = quote(AccountScore._meta.db_table)
    columns = ", ".join(quote(column) for column in RESULT_COLUMNS)
    upsert = (
        "ON CONFLICT (account_id) DO UPDATE SET "
        + ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in RESULT_COLUMNS[1:])
        + f" WHERE {table}.computed_at <= EXCLUDED.computed_at RETURNING account_id"
    )
    with connection.cursor() as cursor:
        if bulk_write(len(encoded)):
            if copy is None:
                copy = copy_text(encoded, definition_id=definition_id, computed_at=computed_at)
            return upsert_by_copy(
                cursor,
                copy,
                table=table,
                columns=columns,
                upsert=upsert,
            )
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
                item.result.next_change_at,
            )
            for item in encoded
        ]
        return upsert_by_values(cursor, rows, table=table, columns=columns, upsert=upsert)


def copy_text(encoded: list[HashedResult], *, definition_id, computed_at: datetime) -> str:
    """The rows in COPY's text format, in RESULT_COLUMNS order.

    Built here rather than value by value through the driver's write_row,
    several times slower for 100,000 rows. Every value is a number,
    a boolean, NULL, a tier, a hex digest, a time or JSON with no control
    characters (both encoders escape them): the one character COPY treats
    specially is the backslash, doubled.
    """
    null = r"\N"
    definition = null if definition_id is None else str(definition_id)
    at = computed_at.isoformat()
    lines = []
    for item in encoded:
        result = item.result
        activation = null if result.activation is None else result.activation
        explanation = item.explanation.replace("\\", "\\\\")
        changes = null if result.next_change_at is None else result.next_change_at.isoformat()
        lines.append(
            f"{result.account_id}\t{definition}\t{result.score}\t{activation}\t{result.tier}\t"
            f"{'t' if result.qualifies else 'f'}\t{'t' if result.triggered else 'f'}\t"
            f"{explanation}\t{item.digest}\t{at}\t{result.priority}\t{changes}\n"
        )
    return "".join(lines)


def upsert_by_copy(cursor, text: str, *, table, columns, upsert) -> set[int]:
    """PostgreSQL: COPY into a session temp table, then one INSERT ... SELECT."""
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS incoming_scores (LIKE {table}) ON COMMIT DELETE ROWS"
    )
    with cursor.cursor.copy(f"COPY incoming_scores ({columns}) FROM STDIN") as copy:
        copy.write(text)
    cursor.execute(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM incoming_scores "  # noqa: S608
        f"WHERE {ACCOUNT_EXISTS.format(account_id='incoming_scores.account_id')} {upsert}"
    )
    applied = {row[0] for row in cursor.fetchall()}
    # Chunks may share one outer transaction: empty the table for the next one.
    cursor.execute("TRUNCATE incoming_scores")
    return applied


# The results table has no foreign key to the accounts (AccountScore.account):
# a result is stored only while its account exists, so one deleted since its
# facts were read leaves none behind.
ACCOUNT_EXISTS = f"EXISTS (SELECT 1 FROM {Account._meta.db_table} AS account WHERE account.id = {{account_id}})"  # noqa: S608 (a table name)
# RESULT_COLUMNS' types, for a VALUES list that is filtered before it is inserted.
RESULT_TYPES = [
    "bigint", "bigint", "integer", "integer", "text", "boolean", "boolean", "jsonb", "text", "timestamptz",
    "bigint", "timestamptz",
]  # fmt: skip


def upsert_by_values(cursor, rows, *, table, columns, upsert) -> set[int]:
    """A multi-row INSERT: fewest round trips for one account or a few."""
    adapt = connection.ops.adapt_datetimefield_value
    if connection.vendor == "postgresql":
        row_placeholder = "(" + ", ".join(f"%s::{kind}" for kind in RESULT_TYPES) + ")"
    else:
        row_placeholder = "(" + ", ".join(["%s"] * len(RESULT_COLUMNS)) + ")"
    applied: set[int] = set()
    for start in range(0, len(rows), UPSERT_BATCH):
        batch = [
            (*row[:-3], adapt(row[-3]), row[-2], adapt(row[-1]))
            for row in rows[start : start + UPSERT_BATCH]
        ]
        placeholders = ", ".join([row_placeholder] * len(batch))
        if connection.vendor == "postgresql":
            source = (
                f"SELECT * FROM (VALUES {placeholders}) AS incoming ({columns}) "  # noqa: S608
                f"WHERE {ACCOUNT_EXISTS.format(account_id='incoming.account_id')}"
            )
        else:  # SQLite names a VALUES list's columns itself
            source = (
                f"SELECT * FROM (VALUES {placeholders}) AS incoming "  # noqa: S608
                f"WHERE {ACCOUNT_EXISTS.format(account_id='incoming.column1')}"
            )
        cursor.execute(
            f"INSERT INTO {table} ({columns}) {source} {upsert}",
            [value for row in batch for value in row],
        )
        applied.update(row[0] for row in cursor.fetchall())
    return applied


class PhaseClock:
    """Seconds spent in each phase of storing a chunk, for the debug log
    (the benchmark adds them up)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self.started
        self.started = now

    def __str__(self) -> str:
        return ", ".join(f"{phase} {seconds:.3f} s" for phase, seconds in self.seconds.items())


@dataclass
class EvaluatedChunk:
    """A chunk evaluated against what was read, ready to be stored."""

    encoded: list[HashedResult]
    changed: list[HashedResult]
    qualifying: dict[int, Result]
    dropping: list[int]
    words: dict[int, tuple[list[str], list[str]]]  # why_qualified() of each new PQL
    copy: str | None = None  # copy_text() of the changed results, for a bulk write


def evaluate_chunk(
    card: Scorecard, facts: list[AccountFacts], book: RescoreInput, *, now: datetime
) -> EvaluatedChunk:
    """The pure part of a chunk: results, which of them changed, which
    statuses they would move, and the rows a bulk write sends.

    The rows are built here, not by the writer: a full rescore evaluates
    one chunk while another is written, and the writer's part is then all
    database work, which runs outside the interpreter lock.
    """
    encoded = [encode(evaluate(card, account_facts), card.id) for account_facts in facts]
    digests, statuses = book.digests, book.statuses
    changed = [item for item in encoded if digests.get(item.result.account_id) != item.digest]
    qualifying = {
        item.result.account_id: item.result
        for item in encoded
        if item.result.qualifies and statuses.get(item.result.account_id) == LeadStatus.SIGNED_UP
    }
    dropping = [
        item.result.account_id
        for item in encoded
        if not item.result.qualifies and statuses.get(item.result.account_id) == LeadStatus.PQL
    ]
    words = {account_id: why_qualified(card, result) for account_id, result in qualifying.items()}
    copy = copy_text(changed, definition_id=card.id, computed_at=now) if bulk_write(len(changed)) else None
    return EvaluatedChunk(encoded, changed, qualifying, dropping, words, copy)


def store_chunk(card: Scorecard, evaluated: EvaluatedChunk, *, now: datetime) -> RescoreTally:
    """Write a chunk's changed results and move its statuses, in one transaction.

    Status moves are decided at lock time against the stored results, so a
    lead status always follows the newest result, whoever wrote it.
    """
    qualifying, dropping, words = evaluated.qualifying, evaluated.dropping, evaluated.words
    own_transaction = not connection.in_atomic_block
    clock = PhaseClock()
    with transaction.atomic():
        if own_transaction and bulk_write(len(evaluated.changed)):
            # A large write need not wait for its WAL flush; safe for our own
            # transaction only: a lost rescore is redone by the next one (and
            # any later commit flushes this one's WAL too), while a caller's
            # transaction would lose its own data.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        applied = write_results(
            evaluated.changed, definition_id=card.id, computed_at=now, copy=evaluated.copy
        )
        clock.lap("results")
        moved = move_as_stored(
            qualifying,
            applied,
            from_status=LeadStatus.SIGNED_UP,
            to_status=LeadStatus.PQL,
            only_if=Q(score__qualifies=True),
            reasons={
                account_id: "Qualified: " + "; ".join(qualified_by)
                for account_id, (qualified_by, _reasons) in words.items()
            },
            details={
                account_id: {
                    "definition": card.name,
                    "score": qualifying[account_id].score,
                    "activation": qualifying[account_id].activation,
                    "qualified_by": qualified_by,
                    "reasons": reasons,
                }
                for account_id, (qualified_by, reasons) in words.items()
            },
        )
        dropped = move_as_stored(
            dropping,
            applied,
            from_status=LeadStatus.PQL,
            to_status=LeadStatus.SIGNED_UP,
            only_if=Q(score__qualifies=False),
            reasons=dict.fromkeys(dropping, f"No longer qualifies under {card.name}."),
        )
        clock.lap("statuses")
        # New PQLs go to a rep in the same transaction: none is seen unrouted.
        assigned = assign_new_pqls(moved)
        clock.lap("routing")
    clock.lap("commit")
    log.debug(
        "Stored %d results (%d changed), %d moved, %d assigned: %s",
        len(evaluated.encoded), len(applied), len(moved) + len(dropped), len(assigned), clock,
        extra={"phases": clock.seconds},
    )
    return RescoreTally(
        scored=len(evaluated.encoded),
        changed=len(applied),
        statuses_changed=len(moved) + len(dropped) + len(assigned),
    )


def move_as_stored(account_ids: Iterable[int], applied: set[int], *, only_if: Q, **move) -> list[int]:
    """Move the accounts whose stored result says so (`only_if`). Those whose
    result this transaction just stored (`applied`: their rows are ours
    until it commits) move without asking the results table again; the
    others, whose stored result may be another writer's, are checked at
    lock time."""
    ours: list[int] = []
    others: list[int] = []
    for account_id in account_ids:
        (ours if account_id in applied else others).append(account_id)
    moved = move_accounts(account_ids=ours, cause=StatusCause.SCORING, **move) if ours else []
    if others:  # a call costs a savepoint even for nothing
        moved += move_accounts(account_ids=others, cause=StatusCause.SCORING, only_if=only_if, **move)
    return moved


def apply_chunk(
    card: Scorecard, facts: list[AccountFacts], book: RescoreInput, *, now: datetime
) -> RescoreTally:
    """Evaluate a chunk of accounts and store it, in one transaction."""
    return store_chunk(card, evaluate_chunk(card, facts, book, now=now), now=now)


def rescore_book(
    card: Scorecard,
    *,
    account_ids: list[int] | None = None,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> RescoreTally:
    """Read the facts of the accounts in scope, then store them chunk by chunk."""
    now = now or timezone.now()
    outcome = RescoreTally()

    def stored(chunk: RescoreTally) -> None:
        outcome.add(chunk)
        if progress:
            progress(chunk.scored)

    with gc_paused():
        if account_ids is None and can_stream():
            rescore_streaming(card, now=now, stored=stored)
        else:
            book = gather_facts(card, now=now, account_ids=account_ids)
            for start in range(0, len(book.facts), CHUNK_SIZE):
                stored(apply_chunk(card, book.facts[start : start + CHUNK_SIZE], book, now=now))
    return outcome


# Chunks stored at once, each by its own thread on its own connection.
WRITERS = 2


def rescore_streaming(card: Scorecard, *, now: datetime, stored: Callable[[RescoreTally], None]) -> None:
    """Every account, with the database and Python working at once.

    Counts stream in on one connection (facts.stream_facts) while this
    thread evaluates, and two writer threads, each on a connection of its
    own, store the chunks evaluated before, each chunk in its own
    transaction, as in line. The first rescore of a book is bound by the
    writing (new results, status moves, routing, outbox): one writer would
    leave the database idle while it runs Python and the other way round.
    Chunks hold different accounts, so two writers only meet at routing,
    which locks the reps: the second waits there until the first commits.
    """
    writers = [
        ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"rescore-writer-{index}")
        for index in range(WRITERS)
    ]
    storing: deque[Future] = deque()
    try:
        for index, book in enumerate(stream_facts(card, now=now, chunk_size=CHUNK_SIZE)):
            evaluated = evaluate_chunk(card, book.facts, book, now=now)
            if len(storing) == WRITERS:
                # The oldest chunk's writer is the one this chunk goes to.
                stored(storing.popleft().result())
            storing.append(writers[index % WRITERS].submit(store_chunk, card, evaluated, now=now))
        while storing:
            stored(storing.popleft().result())
    finally:
        for writer in writers:
            # A writer's connection belongs to its thread: closed there, after
            # whatever it is still storing.
            writer.submit(connections.close_all).result()
            writer.shutdown()


def rescore_accounts(account_ids: Iterable[int], *, now: datetime | None = None) -> RescoreTally:
    """Rescore some accounts (after new events, or as time moves their
    windows) under the active definition. `now` is the clock the windows
    read (the time-driven benchmark moves it on)."""
    card = active_scorecard()
    ids = sorted(set(account_ids))
    if card is None or not ids:
        return RescoreTally()
    return rescore_book(card, account_ids=ids, now=now)


def rescore_all(*, reason: str = "", progress: Callable[[int], None] | None = None) -> ScoringRun:
    """Rescore every account and record the run."""
    card = active_scorecard()
    run = ScoringRun.objects.create(
        definition_id=card.id if card else None, reason=reason, started_at=timezone.now()
    )
    outcome = rescore_book(card, progress=progress) if card else RescoreTally()
    ScoringRun.objects.filter(pk=run.pk).update(
        finished_at=timezone.now(),
        accounts_scored=outcome.scored,
        results_changed=outcome.changed,
        statuses_changed=outcome.statuses_changed,
    )
    run.refresh_from_db()
    return run
