"""Storing validated Segment calls: the people, accounts and events of one
request in one transaction, with a number of statements that does not grow
with the number of messages (up to 500 a statement)."""

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, Case, Q, Value, When
from django.utils import timezone

from scoring.jobs import hand_raisers, request_rescore

from ..models import Account, Event, PendingEvent, Person, Source
from ..services import NewEvent, RecordedEvents, record_events
from .messages import EVENT_CALLS, Message

PEOPLE_BATCH = 500
# (person id, account id) of a user id no person has.
NOBODY = (None, None)
# A person's last seen time is kept to this precision, so that a stream of
# events does not rewrite the person's row with every batch.
SEEN_PRECISION = timedelta(minutes=15)


@dataclass(frozen=True)
class Ingested:
    """What a request stored. `events` counts new events, including pending
    ones attached now; `duplicates` the events already stored; `pending` the
    events kept until their person's account is known."""

    events: int = 0
    duplicates: int = 0
    pending: int = 0
    people: int = 0
    accounts: int = 0


@dataclass
class PersonRow:
    """What a batch says about one person, merged in message order.
    `external_id` is the userId (a visitor's anonymousId in visitor_rows)."""

    external_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    account_id: int | None = None
    columns: dict = field(default_factory=dict)
    traits: dict = field(default_factory=dict)

    def seen(self, at: datetime) -> None:
        self.first_seen_at = min(self.first_seen_at, at)
        self.last_seen_at = max(self.last_seen_at, at)


@transaction.atomic
def ingest_messages(
    *,
    source: Source,
    messages: Sequence[Message],
    record: Callable[[Sequence[NewEvent]], RecordedEvents] | None = None,
    rescore: Callable[..., None] | None = None,
) -> Ingested:
    """Store a batch all or nothing.

    group upserts its account (by groupId) and links the person to it;
    identify upserts the person (by userId, or a visitor by anonymousId).
    track, page and screen become events on the account their
    context.groupId names, else on the person's account, or wait as pending
    events until a group call links the person. identify (with both ids) and
    alias tie an earlier id to a user: its waiting events follow, and an
    earlier person or visitor is folded into the user's. Accounts that got
    events, people or new traits are rescored once, after commit.

    A history import passes its own `record` (COPY through a staging table,
    instead of record_events) and `rescore` (nothing per chunk, instead of
    request_rescore: one full rescore when it ends).
    """
    record = record or record_events
    rescore = rescore or request_rescore
    groups = [message for message in messages if message.call == "group"]
    accounts, changed_accounts = upsert_accounts(groups)
    # The last group call of a user in the batch wins: a person has one account.
    links = {message.user_id: accounts[message.group_id] for message in groups if message.user_id}
    aliases = identities(messages)
    upsert_visitors(visitor_rows(messages))
    people = upsert_people(person_rows(messages, links=links))
    renamed: dict[str, str] = {}
    merged_accounts: set[int] = set()
    if aliases:
        renamed = {m.previous_id: m.user_id for m in messages if m.call == "alias"}
        rekey_pending(aliases, renamed=renamed)
        survivors, merged_accounts = merge_people(aliases, renamed=renamed)
        people.update(survivors)

    # An event's user: alias renames an earlier userId; identify and alias tie anonymous ids.
    events = [
        (message, renamed.get(message.user_id, message.user_id) or aliases.get(message.anonymous_id, ""))
        for message in messages
        if message.call in EVENT_CALLS
    ]
    named = {message.group_id for message, _ in events if message.group_id}
    # An event's context.groupId wins over its person's account when the account is known.
    event_accounts = {**known_accounts(named - accounts.keys()), **accounts} if named else {}
    unlinked = [
        (m, user_id) for m, user_id in events
        if people.get(user_id, NOBODY)[1] is None and m.group_id not in event_accounts
    ]
    if unlinked and connection.vendor == "postgresql":
        people.update(lock_waiting(
            user_ids={user_id for _, user_id in unlinked if user_id},
            anonymous_ids={m.anonymous_id for m, user_id in unlinked if not user_id and m.anonymous_id},
        ))
    new_events, waiting = [], []
    for message, user_id in events:
        person_id, account_id = people.get(user_id, NOBODY)
        account_id = event_accounts.get(message.group_id, account_id)
        if account_id is None:
            waiting.append(pending_event(message, user_id=user_id, source=source))
        else:
            new_events.append(new_event(message, account_id=account_id, person_id=person_id, source=source))

    # Events that waited for these people's accounts go first: they are older.
    arrived = set(links) | {user_id for user_id in aliases.values() if people.get(user_id, NOBODY)[1]}
    attached, attached_ids = attach_pending(arrived, people=people) if arrived else ([], [])
    recorded = record(attached + new_events) if attached or new_events else None
    if attached_ids:
        PendingEvent.objects.filter(pk__in=attached_ids).delete()
    kept = keep_pending(waiting, source=source) if waiting else 0

    profiles = {people[m.user_id][1] for m in messages if m.call == "identify" and m.user_id}
    touched = changed_accounts | set(links.values()) | profiles | merged_accounts
    rescore_ids = {account_id for account_id in touched if account_id is not None}
    hand_raised: set[int] = set()
    if recorded is not None:
        rescore_ids |= set(recorded.account_ids)
        # Events that can fire a trigger are scored ahead of routine usage.
        stored = set(recorded.account_ids)
        hand_raised = hand_raisers(
            (event.account_id, event.name) for event in attached + new_events if event.account_id in stored
        )
    rescore(rescore_ids, hand_raised=hand_raised)
    return Ingested(
        events=recorded.stored if recorded else 0,
        duplicates=recorded.duplicates if recorded else 0,
        pending=kept,
        people=len(people),
        accounts=len(accounts),
    )


def identities(messages: Iterable[Message]) -> dict[str, str]:
    """Which user an anonymous (or earlier) id now belongs to: identify with
    both ids, and alias."""
    aliases = {}
    for message in messages:
        if message.call == "alias":
            aliases[message.previous_id] = message.user_id
        elif message.call == "identify" and message.user_id and message.anonymous_id:
            aliases[message.anonymous_id] = message.user_id
    return aliases


def upsert_accounts(groups: Sequence[Message]) -> tuple[dict[str, int], set[int]]:
    """Create or update the accounts of group calls (by groupId). Returns
    every account's id by groupId, and the ids of accounts whose data changed.

    New accounts are inserted first (a concurrent request creating the same
    one is ignored), then all are locked in a fixed order and the traits
    merged in Python: few accounts per batch, so three statements at most.
    """
    if not groups:
        return {}, set()
    merged: dict[str, tuple[dict, dict, datetime]] = {}
    for message in groups:
        columns, traits, first = merged.get(message.group_id, ({}, {}, message.occurred_at))
        merged[message.group_id] = (
            {**columns, **message.columns},
            {**traits, **message.traits},
            min(first, message.occurred_at),
        )
    Account.objects.bulk_create(
        [
            Account(
                external_id=group_id,
                **{"name": group_id[:200], "signed_up_at": first, **columns},
                traits=traits,
            )
            for group_id, (columns, traits, first) in merged.items()
        ],
        ignore_conflicts=True,
    )
    accounts = list(
        Account.objects.select_for_update()
        .filter(external_id__in=list(merged))
        .order_by("external_id")
    )
    changed, fields = [], set()
    now = timezone.now()
    for account in accounts:
        columns, traits, _ = merged[account.external_id]
        differ = {name for name, value in columns.items() if getattr(account, name) != value}
        new_traits = {**account.traits, **traits}
        if new_traits != account.traits:
            differ.add("traits")
        if differ:
            for name in differ - {"traits"}:
                setattr(account, name, columns[name])
            account.traits = new_traits
            account.updated_at = now
            changed.append(account)
            fields |= differ
    if changed:
        Account.objects.bulk_update(changed, sorted(fields | {"updated_at"}))
    return {account.external_id: account.pk for account in accounts}, {a.pk for a in changed}


def known_accounts(group_ids: Iterable[str]) -> dict[str, int]:
    """Account id by groupId (external id), of the accounts that exist."""
    group_ids = sorted(group_ids)
    if not group_ids:
        return {}
    return dict(Account.objects.filter(external_id__in=group_ids).values_list("external_id", "pk"))


def person_rows(messages: Iterable[Message], *, links: dict[str, int]) -> list[PersonRow]:
    """One row per userId in the batch: identify's columns and traits merged
    in order, the first and last time seen, the account a group call gave."""
    rows: dict[str, PersonRow] = {}
    for message in messages:
        user_id = message.user_id
        if not user_id:
            continue
        row = rows.get(user_id)
        if row is None:
            row = rows[user_id] = PersonRow(user_id, message.occurred_at, message.occurred_at)
        else:
            row.seen(message.occurred_at)
        if message.call == "identify":
            row.columns.update(message.columns)
            row.traits.update(message.traits)
    for user_id, account_id in links.items():
        rows[user_id].account_id = account_id
    return sorted(rows.values(), key=lambda row: row.external_id)


def visitor_rows(messages: Iterable[Message]) -> list[PersonRow]:
    """One row per anonymousId identified without a userId, its traits
    merged in order: a visitor's traits are kept until they sign in."""
    rows: dict[str, PersonRow] = {}
    for message in messages:
        if message.call != "identify" or message.user_id or not message.anonymous_id:
            continue
        row = rows.get(message.anonymous_id)
        if row is None:
            row = rows[message.anonymous_id] = PersonRow(
                message.anonymous_id, message.occurred_at, message.occurred_at
            )
        else:
            row.seen(message.occurred_at)
        row.columns.update(message.columns)
        row.traits.update(message.traits)
    return sorted(rows.values(), key=lambda row: row.external_id)


def upsert_visitors(rows: Sequence[PersonRow]) -> None:
    """Create or update visitors (people known only by an anonymousId) by
    that id; `external_id` of each row holds the anonymous id."""
    for start in range(0, len(rows), PEOPLE_BATCH):
        _upsert_people(rows[start : start + PEOPLE_BATCH], key="anonymous_id")


# A person's columns an upsert writes, besides its key (external_id or anonymous_id).
PROFILE_COLUMNS = [
    "account_id",
    "email",
    "name",
    "title",
    "traits",
    "first_seen_at",
    "last_seen_at",
]


def upsert_people(rows: Sequence[PersonRow]) -> dict[str, tuple[int, int | None]]:
    """Create or update people by userId; returns (person id, account id) by userId.

    One read finds who exists and whose seen times moved: the first seen
    earlier, or the last seen later by more than SEEN_PRECISION. Only new
    people and those identified or grouped in the batch are upserted, and
    only the moved seen times updated, so a batch of events from known
    people usually writes no person. Rows come sorted by userId, so
    concurrent batches lock people in the same order.
    """
    people, moved = find_people(rows)
    profiles = [
        row for row in rows
        if row.external_id not in people or row.columns or row.traits or row.account_id is not None
    ]
    for start in range(0, len(profiles), PEOPLE_BATCH):
        people.update(_upsert_people(profiles[start : start + PEOPLE_BATCH]))
    written = {row.external_id for row in profiles}
    mark_seen([row for row in rows if row.external_id in moved and row.external_id not in written])
    return people


def find_people(rows: Sequence[PersonRow]) -> tuple[dict[str, tuple[int, int | None]], set[str]]:
    """(person id, account id) by userId of the people who exist, and the
    userIds whose seen times moved."""
    if not rows:
        return {}, set()
    table = connection.ops.quote_name(Person._meta.db_table)
    seen, params = seen_table(rows)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.external_id, p.id, p.account_id, "  # noqa: S608
            "(p.first_seen_at IS NULL OR p.first_seen_at > v.first_at "
            "OR p.last_seen_at IS NULL OR p.last_seen_at < v.stale_before) "
            f"FROM {table} p JOIN {seen} ON p.external_id = v.external_id",
            params,
        )
        found = cursor.fetchall()
    people = {external_id: (pk, account_id) for external_id, pk, account_id, _ in found}
    return people, {external_id for external_id, _, _, moved in found if moved}


def mark_seen(rows: Sequence[PersonRow]) -> None:
    """First seen only moves back, last seen only forward."""
    if not rows:
        return
    table = connection.ops.quote_name(Person._meta.db_table)
    seen, params = seen_table(rows)
    earlier = f"{table}.first_seen_at IS NULL OR {table}.first_seen_at > v.first_at"
    later = f"{table}.last_seen_at IS NULL OR {table}.last_seen_at < v.last_at"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET "  # noqa: S608
            f"first_seen_at = CASE WHEN {earlier} THEN v.first_at ELSE {table}.first_seen_at END, "
            f"last_seen_at = CASE WHEN {later} THEN v.last_at ELSE {table}.last_seen_at END "
            f"FROM {seen} WHERE {table}.external_id = v.external_id",
            params,
        )


def seen_table(rows: Sequence[PersonRow]) -> tuple[str, list]:
    """The batch's seen times by userId as a derived table named v
    (external_id, first_at, last_at, stale_before) for a FROM clause, with
    its params.

    On PostgreSQL one JSON parameter of [userId, first, last] with the times
    as epoch seconds (a float keeps them to the microsecond): formatting
    three ISO times a person cost more than the query. Elsewhere VALUES.
    """
    if connection.vendor == "postgresql":
        data = [[row.external_id, row.first_seen_at.timestamp(), row.last_seen_at.timestamp()] for row in rows]
        return (
            "(SELECT r ->> 0 AS external_id, to_timestamp((r ->> 1)::float8) AS first_at, "
            "to_timestamp((r ->> 2)::float8) AS last_at, "
            "to_timestamp((r ->> 2)::float8) - %s AS stale_before "
            "FROM jsonb_array_elements(%s::jsonb) AS r) AS v",
            [SEEN_PRECISION, json.dumps(data)],
        )
    adapt = connection.ops.adapt_datetimefield_value
    params = [
        value
        for row in rows
        for value in (
            row.external_id,
            adapt(row.first_seen_at),
            adapt(row.last_seen_at),
            adapt(row.last_seen_at - SEEN_PRECISION),
        )
    ]
    values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    select = "column1 AS external_id, column2 AS first_at, column3 AS last_at, column4 AS stale_before"
    return f"(SELECT {select} FROM (VALUES {values})) AS v", params  # noqa: S608


def _upsert_people(
    rows: Sequence[PersonRow], *, key: str = "external_id"
) -> dict[str, tuple[int, int | None]]:
    """One multi-row upsert of people by `key`: external_id (userId) or
    anonymous_id (a visitor); each row's external_id holds the key's value."""
    quote = connection.ops.quote_name
    table = quote(Person._meta.db_table)
    postgres = connection.vendor == "postgresql"
    row = "(" + ", ".join(["%s"] * 5 + ["%s::jsonb" if postgres else "%s"] + ["%s"] * 2) + ")"
    merge_traits = f"{table}.traits || EXCLUDED.traits" if postgres else f"json_patch({table}.traits, EXCLUDED.traits)"
    adapt = connection.ops.adapt_datetimefield_value
    params = []
    for person in rows:
        params += [
            person.external_id,
            person.account_id,
            person.columns.get("email", ""),
            person.columns.get("name", ""),
            person.columns.get("title", ""),
            json.dumps(person.traits),
            adapt(person.first_seen_at),
            adapt(person.last_seen_at),
        ]

    def keep_unless_given(column: str) -> str:
        return f"{column} = CASE WHEN EXCLUDED.{column} = '' THEN {table}.{column} ELSE EXCLUDED.{column} END"

    sql = (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in [key, *PROFILE_COLUMNS])}) "  # noqa: S608
        f"VALUES {', '.join([row] * len(rows))} "
        f"ON CONFLICT ({key}) DO UPDATE SET "
        f"account_id = COALESCE(EXCLUDED.account_id, {table}.account_id), "
        f"{keep_unless_given('email')}, {keep_unless_given('name')}, {keep_unless_given('title')}, "
        f"traits = {merge_traits}, "
        f"first_seen_at = CASE WHEN {table}.first_seen_at IS NULL "
        f"OR EXCLUDED.first_seen_at < {table}.first_seen_at "
        f"THEN EXCLUDED.first_seen_at ELSE {table}.first_seen_at END, "
        f"last_seen_at = CASE WHEN {table}.last_seen_at IS NULL "
        f"OR EXCLUDED.last_seen_at > {table}.last_seen_at "
        f"THEN EXCLUDED.last_seen_at ELSE {table}.last_seen_at END "
        f"RETURNING id, {key}, account_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {value: (pk, account_id) for pk, value, account_id in cursor.fetchall()}


# Transaction-scoped advisory locks on anonymous ids, taken in a fixed order.
ANONYMOUS_LOCKS = (
    "SELECT {function}(key) FROM (SELECT DISTINCT hashtextextended('pqlsite-anonymous:' || id, 0) "
    "AS key FROM unnest(%s::text[]) AS id ORDER BY key) AS keys"
)


def lock_waiting(*, user_ids: set[str], anonymous_ids: set[str]) -> dict[str, tuple[int, int | None]]:
    """PostgreSQL, for events about to wait for an account: lock their
    people (FOR SHARE, re-reading them) and their anonymous ids (shared
    advisory locks). A concurrent request linking one of these people, or
    naming one of these anonymous ids, then either committed first, and the
    re-read sees its link, or waits for this commit and then sees these
    pending events. Without the locks each would miss the other's rows and
    the events would wait for good."""
    people = {}
    with connection.cursor() as cursor:
        if user_ids:
            cursor.execute(
                f"SELECT external_id, id, account_id FROM {Person._meta.db_table} "  # noqa: S608
                "WHERE external_id = ANY(%s) ORDER BY external_id FOR SHARE",
                [sorted(user_ids)],
            )
            people = {external_id: (pk, account_id) for external_id, pk, account_id in cursor.fetchall()}
        if anonymous_ids:
            cursor.execute(
                ANONYMOUS_LOCKS.format(function="pg_advisory_xact_lock_shared"), [sorted(anonymous_ids)]
            )
    return people


def rekey_pending(aliases: dict[str, str], *, renamed: dict[str, str]) -> None:
    """Waiting events of an anonymous id now belong to its user; those of a
    user id that alias replaced, to the new one. On PostgreSQL the anonymous
    ids, and the people alias replaced, are locked first (see lock_waiting),
    in the same order: people, then anonymous ids."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            if renamed:
                cursor.execute(
                    f"SELECT 1 FROM {Person._meta.db_table} WHERE external_id = ANY(%s) "  # noqa: S608
                    "ORDER BY external_id FOR UPDATE",
                    [sorted(renamed)],
                )
            cursor.execute(ANONYMOUS_LOCKS.format(function="pg_advisory_xact_lock"), [sorted(aliases)])
    PendingEvent.objects.filter(user_id="", anonymous_id__in=list(aliases)).update(
        user_id=Case(*(When(anonymous_id=old, then=Value(new)) for old, new in aliases.items()))
    )
    if renamed:
        PendingEvent.objects.filter(user_id__in=list(renamed)).update(
            user_id=Case(*(When(user_id=old, then=Value(new)) for old, new in renamed.items()))
        )


PERSON_MERGED_FIELDS = ["account", "email", "name", "title", "traits", "first_seen_at", "last_seen_at"]


def merge_people(
    aliases: dict[str, str], *, renamed: dict[str, str]
) -> tuple[dict[str, tuple[int, int | None]], set[int]]:
    """Fold each earlier identity into the user it now belongs to, as
    Segment's alias does: the person an alias names as previousId (or the
    visitor it names by anonymous id), and the visitor an identify names by
    anonymousId. The user's person keeps what it has and takes what it lacks
    (email, name, title, traits, account), its seen times widen, the earlier
    person's events become its events and the earlier row goes.

    One read (locking the rows, on PostgreSQL), then a handful of
    statements however many people fold. Returns (person id, account id) by userId of the
    people folded into and of the userIds folded away, and the accounts
    whose people changed.
    """
    candidates = Person.objects.filter(
        Q(external_id__in=sorted({*renamed, *aliases.values()}))
        | Q(external_id__isnull=True, anonymous_id__in=sorted(aliases))
    ).order_by("pk")
    if connection.vendor == "postgresql":
        candidates = candidates.select_for_update()
    users, visitors = {}, {}
    for person in candidates:
        if person.external_id is None:
            visitors[person.anonymous_id] = person
        else:
            users[person.external_id] = person
    folded: dict[int, Person] = {}  # the pk of each person folded away: who it went into

    def surviving(person: Person) -> Person:
        while person.pk in folded:
            person = folded[person.pk]
        return person

    for earlier_id, user_id in aliases.items():
        earlier = (users.get(earlier_id) if earlier_id in renamed else None) or visitors.get(earlier_id)
        if earlier is None or user_id not in users:
            continue
        earlier, survivor = surviving(earlier), surviving(users[user_id])
        if earlier.pk != survivor.pk:
            fold(earlier, into=survivor)
            folded[earlier.pk] = survivor
    if not folded:
        return {}, set()

    into = {pk: surviving(person) for pk, person in folded.items()}
    Event.objects.filter(person_id__in=sorted(into)).update(
        person_id=Case(
            *(When(person_id=pk, then=Value(person.pk)) for pk, person in into.items()),
            output_field=BigIntegerField(),
        )
    )
    gone = [person for person in [*users.values(), *visitors.values()] if person.pk in folded]
    Person.objects.filter(pk__in=sorted(into)).delete()
    survivors = {person.pk: person for person in into.values()}
    Person.objects.bulk_update(list(survivors.values()), PERSON_MERGED_FIELDS)

    # Survivors are users (a visitor is folded into one), so each has an external id.
    people = {cast(str, person.external_id): (person.pk, person.account_id) for person in survivors.values()}
    for person in gone:
        if person.external_id is not None:
            survivor = into[person.pk]
            people[person.external_id] = (survivor.pk, survivor.account_id)
    accounts = {person.account_id for person in [*gone, *survivors.values()] if person.account_id is not None}
    return people, accounts


def fold(earlier: Person, *, into: Person) -> None:
    """What `into` lacks, it takes from `earlier` (in memory)."""
    for column in ("email", "name", "title"):
        if not getattr(into, column):
            setattr(into, column, getattr(earlier, column))
    into.traits = {**earlier.traits, **into.traits}
    if into.account_id is None:
        into.account_id = earlier.account_id
    firsts = [at for at in (into.first_seen_at, earlier.first_seen_at) if at is not None]
    lasts = [at for at in (into.last_seen_at, earlier.last_seen_at) if at is not None]
    into.first_seen_at = min(firsts, default=None)
    into.last_seen_at = max(lasts, default=None)


def attach_pending(
    user_ids: set[str], *, people: dict[str, tuple[int, int | None]]
) -> tuple[list[NewEvent], list[int]]:
    """The waiting events of people who now have an account, as new events
    (each keeps its own source and message id), and the pending rows' ids."""
    rows = PendingEvent.objects.filter(user_id__in=sorted(user_ids)).values_list(
        "pk", "source", "message_id", "user_id", "name", "properties", "occurred_at"
    )
    events, ids = [], []
    for pk, source, message_id, user_id, name, properties, occurred_at in rows:
        person_id, account_id = people[user_id]
        assert account_id is not None  # asked for people who now have an account
        ids.append(pk)
        events.append(
            NewEvent(
                account_id=account_id,
                person_id=person_id,
                name=name,
                occurred_at=occurred_at,
                message_id=message_id,
                source=source,
                properties=properties,
            )
        )
    return events, ids


def keep_pending(events: Sequence[PendingEvent], *, source: Source) -> int:
    """Store events that wait for their person's account, unless already
    stored: as pending (same source and message id) or as an event."""
    stored = set(
        Event.objects.filter(source=source.slug, message_id__in=[e.message_id for e in events])
        .order_by()
        .values_list("message_id", flat=True)
    )
    fresh = [event for event in events if event.message_id not in stored]
    PendingEvent.objects.bulk_create(fresh, ignore_conflicts=True, batch_size=500)
    return len(fresh)


def new_event(message: Message, *, account_id: int, person_id: int | None, source: Source) -> NewEvent:
    return NewEvent(
        account_id=account_id,
        person_id=person_id,
        name=message.event,
        occurred_at=message.occurred_at,
        message_id=message.message_id,
        source=source.slug,
        properties=message.properties,
    )


def pending_event(message: Message, *, user_id: str, source: Source) -> PendingEvent:
    return PendingEvent(
        source=source.slug,
        message_id=message.message_id,
        user_id=user_id,
        anonymous_id=message.anonymous_id,
        name=message.event,
        properties=message.properties,
        occurred_at=message.occurred_at,
    )


def expire_pending_events(*, days: int | None = None, now: datetime | None = None) -> int:
    """Delete pending events received more than `days` ago (default
    PENDING_EVENT_RETENTION_DAYS): a visitor who never signs in, or a person
    never grouped, would otherwise keep them for ever. One DELETE; returns
    how many went."""
    days = settings.PENDING_EVENT_RETENTION_DAYS if days is None else days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted, _ = PendingEvent.objects.filter(received_at__lt=cutoff).delete()
    return deleted
