"""Identities tied together: identify with both ids, and alias. An earlier
person or visitor is folded into the user's, as Segment's alias does."""

from collections.abc import Iterable
from typing import cast

from django.db import connection
from django.db.models import BigIntegerField, Case, Q, Value, When

from ..models import Event, Person
from .messages import Message
from .traits import merged_traits


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
    into.traits = merged_traits(earlier.traits, into.traits if isinstance(into.traits, dict) else {})
    if into.account_id is None:
        into.account_id = earlier.account_id
    firsts = [at for at in (into.first_seen_at, earlier.first_seen_at) if at is not None]
    lasts = [at for at in (into.last_seen_at, earlier.last_seen_at) if at is not None]
    into.first_seen_at = min(firsts, default=None)
    into.last_seen_at = max(lasts, default=None)
