"""Pending events: track, page and screen calls whose person has no
account yet wait here until a group call links the person (or expire).
On PostgreSQL the people and anonymous ids they wait on are locked, so a
concurrent request linking them cannot miss them."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Case, Value, When
from django.utils import timezone

from ..models import Event, PendingEvent, Person, Source
from ..services import NewEvent
from .messages import Message

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
