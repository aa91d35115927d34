"""Storing validated Segment calls: the people, accounts and events of one
request in one transaction, with a number of statements that does not grow
with the number of messages (up to 500 a statement). The steps live in
accounts, people, aliases and pending; this module orders them."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction

from scoring.jobs import hand_raisers, request_rescore

from ..models import PendingEvent, Source
from ..services import NewEvent, RecordedEvents, record_events
from .accounts import known_accounts, upsert_accounts
from .aliases import identities, merge_people
from .messages import EVENT_CALLS, Message
from .pending import attach_pending, keep_pending, lock_waiting, pending_event, rekey_pending
from .people import NOBODY, person_rows, upsert_people, upsert_visitors, visitor_rows


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
    slug = source.slug
    for message, user_id in events:
        person_id, account_id = people.get(user_id, NOBODY)
        if event_accounts:
            account_id = event_accounts.get(message.group_id, account_id)
        if account_id is None:
            waiting.append(pending_event(message, user_id=user_id, source=source))
        else:
            # Built here rather than by a helper: a history chunk makes 50,000.
            new_events.append(NewEvent(
                account_id=account_id, person_id=person_id, name=message.event,
                occurred_at=message.occurred_at, message_id=message.message_id, source=slug,
                properties=message.properties,
            ))

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
