"""Storing history a chunk at a time: each chunk's rows are validated like
live calls, then stored in one transaction through the live ingest path with
the events COPYed in, with the same dedupe (messageId per source). A chunk stored is
recorded (ImportedChunk), so an import run again skips it; a chunk cut off
by a crash left nothing, and is stored again whole."""

import hashlib
import json
import multiprocessing
import operator
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import django
import orjson
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from ...models import Account, Event, ImportedChunk, Source
from ...services import LAST_EVENT_PRECISION, NewEvent, RecordedEvents
from ..messages import EVENT_CALLS, InvalidPayload, Message
from ..services import ingest_messages
from .files import CsvMapping, RowProblem, csv_rows, file_identity, is_csv, jsonl_rows, open_binary
from .validation import historical_row

CHUNK_SIZE = 50_000
# A refused row is kept in the rejects file up to this many characters.
REJECTED_ROW_CHARS = 2000
STAGING = "history_staging"


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


ACCOUNT_OF = operator.attrgetter("account_id")


def copy_events(events: Sequence[NewEvent]) -> RecordedEvents:
    """record_events for history, without a rescore (the import asks for one
    when it ends).

    The events already stored (same source and message id) are looked up in
    one indexed query, and the rest COPYed straight into the events table.
    Should a live request store one of them meanwhile, the COPY fails whole
    (in a savepoint) and they go through a temporary staging table and one
    INSERT ... SELECT that skips what is stored. Then each account's last
    event time moves forward, in one UPDATE.
    """
    stored = already_stored(events)
    fresh = list(events)
    if stored:
        fresh = [event for event in events if (event.message_id, event.source) not in stored]
    # By account (in file order within one): each account's pages of the
    # account indexes are then written once a chunk, not once an event.
    fresh.sort(key=ACCOUNT_OF)
    received_at = timezone.now()
    try:
        with transaction.atomic():
            # Streamed: the database stores each batch while the next is written.
            copy_text(each_copy_line(fresh, received_at=received_at), table=Event._meta.db_table)
    except IntegrityError:
        fresh = insert_through_staging(fresh, copy_lines(fresh, received_at=received_at))
    latest: dict[int, datetime] = {}
    for event in fresh:
        account_id = event.account_id
        if account_id not in latest or event.occurred_at > latest[account_id]:
            latest[account_id] = event.occurred_at
    advance_last_events(latest)
    return RecordedEvents(stored=len(fresh), duplicates=len(events) - len(fresh), account_ids=sorted(latest))


def already_stored(events: Sequence[NewEvent]) -> set[tuple[str, str]]:
    """(message id, source) of the events stored already: one indexed query
    a source (the ids go in as one JSON array: binding an array of 50,000
    strings costs more than the query)."""
    by_source: dict[str, list[str]] = {}
    for event in events:
        by_source.setdefault(event.source, []).append(event.message_id)
    found: set[tuple[str, str]] = set()
    with connection.cursor() as cursor:
        for source, message_ids in by_source.items():
            cursor.execute(
                f"SELECT message_id, source FROM {quote(Event._meta.db_table)} "  # noqa: S608
                "WHERE source = %s AND message_id IN (SELECT jsonb_array_elements_text(%s::jsonb))",
                [source, orjson.dumps(message_ids).decode()],
            )
            found.update(cursor.fetchall())
    return found


# The events' columns in COPY lines: the row's own values, then where it belongs.
COPY_COLUMNS = "name, properties, occurred_at, message_id, account_id, person_id, received_at, source"
STAGING_COLUMNS = (
    "name text, properties jsonb, occurred_at timestamptz, message_id text, account_id bigint, "
    "person_id bigint, received_at timestamptz, source text"
)
# COPY's text format: these characters are written as backslash escapes.
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_value(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(COPY_ESCAPES)
    return text


def properties_json(properties: dict) -> str:
    """An event's properties as JSON text (orjson, or the standard encoder
    for what orjson refuses, such as an integer past 64 bits)."""
    try:
        return orjson.dumps(properties).decode()
    except orjson.JSONEncodeError:
        return EVENT_PROPERTIES_JSON.encode(properties)


def each_copy_line(events: Iterable[NewEvent], *, received_at: datetime) -> Iterator[str]:
    """The COPY text lines of `events` (in COPY_COLUMNS order), written here:
    psycopg's write_row and the standard JSON encoder cost several times more."""
    stored_at = received_at.isoformat()
    ends: dict[str, str] = {}
    for event in events:
        end = ends.get(event.source)
        if end is None:
            end = ends[event.source] = f"{stored_at}\t{copy_value(event.source)}\n"
        person = "\\N" if event.person_id is None else event.person_id
        yield (
            f"{copy_value(event.name)}\t{copy_value(properties_json(event.properties))}\t"
            f"{event.occurred_at.isoformat()}\t{copy_value(event.message_id)}\t{event.account_id}\t{person}\t{end}"
        )


def copy_lines(events: Sequence[NewEvent], *, received_at: datetime) -> list[str]:
    return list(each_copy_line(events, received_at=received_at))


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


# Lines sent to COPY per write: small enough that the database stores one
# batch while the next is written.
COPY_BATCH = 2_000


def copy_text(lines: Iterable[str], *, table: str) -> None:
    """COPY lines of text through psycopg's own cursor, a batch at a time as
    they come, its errors turned into Django's."""
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {quote(table)} ({COPY_COLUMNS}) FROM STDIN") as copy,
    ):
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) == COPY_BATCH:
                copy.write("".join(batch))
                batch.clear()
        if batch:
            copy.write("".join(batch))


def insert_through_staging(events: Sequence[NewEvent], lines: Sequence[str]) -> list[NewEvent]:
    """The events (`lines`, their COPY lines) COPYed into a temporary table,
    then inserted from it, skipping those stored meanwhile; returns the events stored."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING} ({STAGING_COLUMNS}) ON COMMIT DROP")
        cursor.execute(f"TRUNCATE {STAGING}")
    copy_text(lines, table=STAGING)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(Event._meta.db_table)} ({COPY_COLUMNS}) "  # noqa: S608
            f"SELECT {COPY_COLUMNS} FROM {STAGING} "
            "ON CONFLICT (message_id, source) DO NOTHING RETURNING message_id, source"
        )
        inserted = set(cursor.fetchall())
    return [event for event in events if (event.message_id, event.source) in inserted]


def advance_last_events(latest: dict[int, datetime]) -> None:
    """Each account's last event time moves forward (to LAST_EVENT_PRECISION, as live)."""
    if not latest:
        return
    accounts = quote(Account._meta.db_table)
    ids = sorted(latest)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {accounts} SET last_event_at = v.at "  # noqa: S608
            "FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::timestamptz[]) AS at) AS v "
            f"WHERE {accounts}.id = v.id AND ({accounts}.last_event_at IS NULL "
            f"OR {accounts}.last_event_at < v.at - %s)",
            [ids, [latest[pk] for pk in ids], LAST_EVENT_PRECISION],  # type: ignore[list-item]  # an interval
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
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Counts:
    """Import one file chunk by chunk; chunks already stored (by an earlier
    run over the same file with the same options) are skipped and counted.

    A writer thread stores chunk k while chunk k + 1 is validated: in this
    thread, or with `workers` in that many processes of their own, ahead of
    the writer (validation is Python, and a thread would share the
    interpreter lock with the writer's Python). `progress` gets the raw
    (compressed) bytes read since its last call.
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
    in_flight: deque[tuple[int, Future]] = deque()
    storing: Future | None = None

    def advance() -> None:
        nonlocal position
        if progress is not None:
            now = raw.tell()
            progress(now - position)
            position = now

    def store_next() -> None:
        nonlocal storing
        number, validating = in_flight.popleft()
        validated = validating.result()
        if storing is not None:
            total.add(storing.result())
            advance()
        storing = writer.submit(
            store_chunk, validated, source=source, file_key=file_key, chunk=number, file_name=str(path)
        )

    with ExitStack() as stack:
        stack.enter_context(raw)
        stack.enter_context(stream)
        validator = stack.enter_context(validators(workers))
        writer = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-writer"))
        # The writer's connection belongs to its thread: closed there, last.
        stack.callback(lambda: writer.submit(connections.close_all).result())
        rows = csv_rows(stream, mapping) if csv_file else jsonl_rows(stream)
        for number, rows_of_chunk in enumerate(chunks(rows, chunk_size)):
            if number in done:
                total.add(Counts.of_chunk(done[number]))
                advance()
                continue
            in_flight.append((number, validator.submit(validate_chunk, rows_of_chunk, received_at=timezone.now())))
            while len(in_flight) > workers:
                store_next()
        while in_flight:
            store_next()
        if storing is not None:
            total.add(storing.result())
        advance()
    return total


class InPlace:
    """An executor that runs each call at once, in this thread."""

    def submit(self, function, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(function(*args, **kwargs))
        except Exception as error:  # handed to the caller, as an executor does
            future.set_exception(error)
        return future

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return None


def validators(workers: int):
    """Where chunks are validated: here, or in `workers` fresh processes
    (spawned, not forked: a fork would share this process's database
    connections)."""
    if workers < 1:
        return InPlace()
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=django.setup
    )
