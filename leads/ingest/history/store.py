"""Storing history a chunk at a time: each chunk's rows are validated like
live calls, then stored in one transaction through the live ingest path with
the events COPYed into a staging table and inserted from it in one
statement, with the same dedupe (messageId per source). A chunk stored is
recorded (ImportedChunk), so an import run again skips it; a chunk cut off
by a crash left nothing, and is stored again whole."""

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.db import connection, connections, transaction
from django.utils import timezone

from ...models import Account, Event, ImportedChunk, Source
from ...services import LAST_EVENT_PRECISION, NewEvent, RecordedEvents
from ..messages import EVENT_CALLS, InvalidPayload, Message
from ..services import ingest_messages
from .files import CsvMapping, RowProblem, csv_rows, file_identity, is_csv, jsonl_rows, open_binary
from .validation import historical_row

CHUNK_SIZE = 20_000
# A refused row is kept in the rejects file up to this many characters.
REJECTED_ROW_CHARS = 2000
STAGING = "history_staging"
STAGING_COLUMNS = "account_id bigint, person_id bigint, name text, properties jsonb, " \
    "occurred_at timestamptz, source text, message_id text"


@dataclass
class Counts:
    """What an import did: `read` rows, `stored` new events, `pending` events
    waiting for their person's account, `profiles` identify/group/alias calls
    applied, `duplicates` events already stored (or twice in the file),
    `rejected` rows refused, each in `rejects` with its line and reasons."""

    read: int = 0
    stored: int = 0
    pending: int = 0
    profiles: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejects: list[dict] = field(default_factory=list)

    def add(self, other: "Counts") -> None:
        for name in ("read", "stored", "pending", "profiles", "duplicates", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejects += other.rejects

    @classmethod
    def of_chunk(cls, chunk: ImportedChunk) -> "Counts":
        return cls(chunk.lines, chunk.stored, chunk.pending, chunk.profiles, chunk.duplicates,
                   chunk.rejected, list(chunk.rejects))


def copy_events(events: Sequence[NewEvent]) -> RecordedEvents:
    """record_events for history: the events COPYed into a temporary staging
    table, then one INSERT ... SELECT that skips those already stored (same
    source and message id), moves each account's last event time forward
    and says how many each account got. No rescore: the import asks for one
    when it ends."""
    quote = connection.ops.quote_name
    events_table, accounts = quote(Event._meta.db_table), quote(Account._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING} ({STAGING_COLUMNS}) ON COMMIT DROP")
        cursor.execute(f"TRUNCATE {STAGING}")
        with cursor.cursor.copy(f"COPY {STAGING} FROM STDIN") as copy:
            dumps, write_row = EVENT_PROPERTIES_JSON.encode, copy.write_row
            for event in events:
                write_row((event.account_id, event.person_id, event.name, dumps(event.properties),
                           event.occurred_at, event.source, event.message_id))
        cursor.execute(
            f"WITH stored AS (INSERT INTO {events_table} (account_id, person_id, name, properties, "  # noqa: S608
            "occurred_at, received_at, source, message_id) "
            f"SELECT account_id, person_id, name, properties, occurred_at, %s, source, message_id FROM {STAGING} "
            "ON CONFLICT (message_id, source) DO NOTHING RETURNING account_id, occurred_at), "
            "latest AS (SELECT account_id, max(occurred_at) AS at, count(*) AS stored "
            "FROM stored GROUP BY account_id), "
            f"advanced AS (UPDATE {accounts} SET last_event_at = latest.at FROM latest "
            f"WHERE {accounts}.id = latest.account_id AND ({accounts}.last_event_at IS NULL "
            f"OR {accounts}.last_event_at < latest.at - %s)) "
            "SELECT account_id, stored FROM latest",
            [timezone.now(), LAST_EVENT_PRECISION],  # type: ignore[list-item]  # an interval
        )
        per_account = cursor.fetchall()
    stored = sum(count for _, count in per_account)
    return RecordedEvents(
        stored=stored, duplicates=len(events) - stored, account_ids=sorted(a for a, _ in per_account)
    )


EVENT_PROPERTIES_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def no_rescore(account_ids: Iterable[int], *, hand_raised: Iterable[int] = ()) -> None:
    """Chunks ask for no rescore: one full rescore follows the import."""


@dataclass
class Validated:
    """A chunk's rows checked: the messages to store (each message id once)."""

    messages: list[Message]
    counts: Counts


def validate_chunk(rows: Sequence[tuple[int, object]], *, received_at: datetime) -> Validated:
    """Every row checked as a live call is; a message id seen before in the
    chunk is a duplicate (the first one is kept, as /v1/batch does)."""
    counts = Counts(read=len(rows))
    messages, seen = [], set()
    for line, row in rows:
        if isinstance(row, RowProblem):
            counts.rejected += 1
            counts.rejects.append({"line": line, "errors": [str(row)], "row": ""})
            continue
        try:
            message = historical_row(row, received_at=received_at)
        except InvalidPayload as invalid:
            counts.rejected += 1
            counts.rejects.append({"line": line, "errors": [str(p) for p in invalid.problems], "row": shown(row)})
            continue
        if message.message_id in seen:
            counts.duplicates += 1
            continue
        seen.add(message.message_id)
        messages.append(message)
    return Validated(messages, counts)


def shown(row) -> str:
    """A refused row as the rejects file keeps it (a CSV record as its message)."""
    if isinstance(row, bytes):
        text = row.decode("utf-8", "replace").rstrip("\r\n")
    else:
        text = json.dumps(row, ensure_ascii=False)
    return text[:REJECTED_ROW_CHARS]


def store_chunk(validated: Validated, *, source: Source, file_key: str, chunk: int, file_name: str) -> Counts:
    """Store a validated chunk and record it done, in one transaction."""
    counts = validated.counts
    with transaction.atomic():
        if validated.messages:
            ingested = ingest_messages(
                source=source, messages=validated.messages, record=copy_events, rescore=no_rescore
            )
            counts.stored += ingested.events
            counts.pending += ingested.pending
            counts.duplicates += ingested.duplicates
            counts.profiles += sum(1 for message in validated.messages if message.call not in EVENT_CALLS)
        ImportedChunk.objects.create(
            file_key=file_key, chunk=chunk, file_name=file_name[-255:], lines=counts.read,
            stored=counts.stored, pending=counts.pending, profiles=counts.profiles,
            duplicates=counts.duplicates, rejected=counts.rejected, rejects=counts.rejects,
        )
    return counts


def chunks(rows: Iterable[tuple[int, object]], size: int) -> Iterator[list[tuple[int, object]]]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def done_chunks(file_key: str) -> dict[int, ImportedChunk]:
    return {chunk.chunk: chunk for chunk in ImportedChunk.objects.filter(file_key=file_key)}


def import_file(
    path: Path,
    *,
    source: Source,
    mapping: CsvMapping | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> Counts:
    """Import one file chunk by chunk; chunks already stored (by an earlier
    run over the same file with the same options) are skipped and counted.

    A writer thread stores chunk k while this thread reads and validates
    chunk k + 1: the database's work then overlaps Python's. `progress` gets
    the raw (compressed) bytes read since its last call.
    """
    csv_file = is_csv(path)
    mapping = mapping or CsvMapping()
    file_key = hashlib.sha256(json.dumps(
        [file_identity(path), source.slug, csv_file and mapping.as_key(), chunk_size]
    ).encode()).hexdigest()
    done = done_chunks(file_key)
    total = Counts()
    stream, raw = open_binary(path)
    position = 0

    def advance() -> None:
        nonlocal position
        if progress is not None:
            now = raw.tell()
            progress(now - position)
            position = now

    with stream, raw, ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-writer") as writer:
        storing: Future | None = None
        try:
            rows = csv_rows(stream, mapping) if csv_file else jsonl_rows(stream)
            for number, rows_of_chunk in enumerate(chunks(rows, chunk_size)):
                if number in done:
                    total.add(Counts.of_chunk(done[number]))
                    advance()
                    continue
                validated = validate_chunk(rows_of_chunk, received_at=timezone.now())
                if storing is not None:
                    total.add(storing.result())
                    advance()
                storing = writer.submit(
                    store_chunk, validated, source=source, file_key=file_key, chunk=number, file_name=str(path)
                )
            if storing is not None:
                total.add(storing.result())
            advance()
        finally:
            # The writer's connection belongs to its thread: close it there.
            writer.submit(connections.close_all).result()
    return total
