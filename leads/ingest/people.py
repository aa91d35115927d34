"""People from a batch: one row per userId (or a visitor's anonymousId)
merged in message order, upserted in multi-row raw SQL statements, and the
seen times of people the batch only mentions moved when they moved enough."""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection

from ..models import Person
from .messages import Message

PEOPLE_BATCH = 500
# (person id, account id) of a user id no person has.
NOBODY = (None, None)
# A person's last seen time is kept to this precision, so that a stream of
# events does not rewrite the person's row with every batch.
SEEN_PRECISION = timedelta(minutes=15)


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


def person_rows(messages: Iterable[Message], *, links: dict[str, int]) -> list[PersonRow]:
    """One row per userId in the batch: identify's columns and traits merged
    in order, the first and last time seen, the account a group call gave."""
    rows: dict[str, PersonRow] = {}
    for message in messages:
        user_id = message.user_id
        if not user_id:
            continue
        row = rows.get(user_id)
        at = message.occurred_at
        if row is None:
            row = rows[user_id] = PersonRow(user_id, at, at)
        # row.seen(at) written out: a history chunk passes here 50,000 times.
        elif at < row.first_seen_at:
            row.first_seen_at = at
        elif at > row.last_seen_at:
            row.last_seen_at = at
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
        upsert_people_by_key(rows[start : start + PEOPLE_BATCH], key="anonymous_id")


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
        people.update(upsert_people_by_key(profiles[start : start + PEOPLE_BATCH]))
    written = {row.external_id for row in profiles}
    mark_seen([row for row in rows if row.external_id in moved and row.external_id not in written])
    return people


def find_people(rows: Sequence[PersonRow]) -> tuple[dict[str, tuple[int, int | None]], set[str]]:
    """(person id, account id) by userId of the people who exist, and the
    userIds whose seen times moved."""
    if not rows:
        return {}, set()
    if connection.vendor == "postgresql":
        return find_people_in_postgresql(rows)
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


def find_people_in_postgresql(rows: Sequence[PersonRow]) -> tuple[dict[str, tuple[int, int | None]], set[str]]:
    """find_people on PostgreSQL: only the userIds go in (one JSON array),
    and each person's first seen time and last seen time + SEEN_PRECISION
    come back as epoch seconds, compared here with the batch's: sending
    every row's times to compare there cost both sides more. Each side is
    the float nearest to a time in microseconds, so the comparisons are
    those of the times themselves."""
    table = connection.ops.quote_name(Person._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT external_id, id, account_id, EXTRACT(EPOCH FROM first_seen_at)::float8, "  # noqa: S608
            f"EXTRACT(EPOCH FROM last_seen_at + %s)::float8 FROM {table} "
            "WHERE external_id IN (SELECT jsonb_array_elements_text(%s::jsonb))",
            # psycopg adapts the timedelta to an interval; the stubs list no timedelta.
            [SEEN_PRECISION, json.dumps([row.external_id for row in rows])],  # type: ignore[list-item]
        )
        found = cursor.fetchall()
    by_id = {row.external_id: row for row in rows}
    people, moved = {}, set()
    for external_id, pk, account_id, first_seen, stale_after in found:
        people[external_id] = (pk, account_id)
        row = by_id[external_id]
        if (
            first_seen is None
            or first_seen > row.first_seen_at.timestamp()
            or stale_after is None
            or stale_after < row.last_seen_at.timestamp()
        ):
            moved.add(external_id)
    return people, moved


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


def upsert_people_by_key(
    rows: Sequence[PersonRow], *, key: str = "external_id"
) -> dict[str, tuple[int, int | None]]:
    """One multi-row upsert of people by `key`: external_id (userId) or
    anonymous_id (a visitor); each row's external_id holds the key's value."""
    quote = connection.ops.quote_name
    table = quote(Person._meta.db_table)
    postgres = connection.vendor == "postgresql"
    row = "(" + ", ".join(["%s"] * 5 + ["%s::jsonb" if postgres else "%s"] + ["%s"] * 2) + ")"
    # Traits stored as something other than an object (by hand, or before the
    # API refused it) are replaced, not concatenated with (jsonb || on an array).
    merge_traits = (
        f"CASE WHEN jsonb_typeof({table}.traits) = 'object' THEN {table}.traits ELSE '{{}}'::jsonb END "
        "|| EXCLUDED.traits"
        if postgres
        else f"json_patch({table}.traits, EXCLUDED.traits)"
    )
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
