"""Fast insertion of many plain rows, for the demo seed and ingestion benchmarks.

Model instances and bulk_create cost several microseconds per row in Python;
at a million events that dominates, so rows here are tuples in column order
written with COPY on PostgreSQL (executemany elsewhere).
"""

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections, models


def _column_names(model: type[models.Model], columns: Sequence[str]) -> list[str]:
    """Database column names for field names or attnames (`account` or `account_id`)."""
    column_of = {}
    for field in model._meta.concrete_fields:
        column_of[field.name] = column_of[field.attname] = field.column
    return [column_of[name] for name in columns]


def insert_rows(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence],
    *,
    using: str = DEFAULT_DB_ALIAS,
) -> int:
    """Insert `rows` (tuples in the order of `columns`) into `model`'s table.

    Values go in as the database stores them: JSON columns as already-dumped
    JSON strings, foreign keys as ids, datetimes as aware datetimes. No model
    defaults, signals or validation apply. Returns the number of rows written.
    """
    connection = connections[using]
    table = connection.ops.quote_name(model._meta.db_table)
    column_names = _column_names(model, columns)
    column_list = ", ".join(connection.ops.quote_name(name) for name in column_names)
    if connection.vendor == "postgresql":
        return _copy_rows(connection, table=table, column_list=column_list, rows=rows)
    return _execute_many(
        connection,
        table=table,
        column_list=column_list,
        datetime_positions=[
            position
            for position, name in enumerate(columns)
            if isinstance(model._meta.get_field(name), models.DateTimeField)
        ],
        rows=rows,
    )


def _copy_rows(connection, *, table: str, column_list: str, rows: Iterable[Sequence]) -> int:
    """COPY through psycopg: one round trip per buffer instead of per row,
    and the server parses text JSON into jsonb."""
    written = 0
    with copy_from_stdin(connection, f"COPY {table} ({column_list}) FROM STDIN") as copy:
        write_row = copy.write_row
        for row in rows:
            write_row(row)
            written += 1
    return written


@contextmanager
def copy_from_stdin(connection, statement: str) -> Iterator[psycopg.Copy]:
    """psycopg 3's COPY (its public Cursor.copy) on the psycopg connection
    under Django's, inside Django's transaction. Django has no COPY of its
    own: this is the one place that reaches under it, and
    tests/test_bulk_insert.py fails if a Django or psycopg upgrade moves it."""
    connection.ensure_connection()
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        yield copy


def _execute_many(
    connection,
    *,
    table: str,
    column_list: str,
    datetime_positions: list[int],
    rows: Iterable[Sequence],
) -> int:
    """executemany with datetimes adapted the way the backend stores them
    (SQLite keeps naive UTC text when USE_TZ is on)."""
    adapt = connection.ops.adapt_datetimefield_value
    if datetime_positions:
        rows = [_adapted(row, positions=datetime_positions, adapt=adapt) for row in rows]
    else:
        rows = list(rows)
    if not rows:
        return 0
    placeholders = ", ".join(["%s"] * len(rows[0]))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({column_list}) VALUES ({placeholders})",  # noqa: S608
            rows,
        )
    return len(rows)


def _adapted(row: Sequence, *, positions: list[int], adapt) -> list:
    values = list(row)
    for position in positions:
        value = values[position]
        if isinstance(value, datetime):
            values[position] = adapt(value)
    return values


def reserve_ids(model: type[models.Model], n: int, *, using: str = DEFAULT_DB_ALIAS) -> list[int]:
    """Claim `n` primary keys for rows that other rows will reference before
    they are inserted (accounts, people), so both can be written in bulk.

    PostgreSQL hands them out from the table's sequence, so concurrent writers
    never collide. SQLite has no sequence to draw from: the ids follow the
    highest one in use and are recorded in sqlite_sequence, so a second call
    before the rows exist does not hand out the same ids; call it inside the
    transaction that inserts them, which holds SQLite's write lock.
    """
    if n <= 0:
        return []
    connection = connections[using]
    table = model._meta.db_table
    pk_column = model._meta.pk.column
    quoted_table = connection.ops.quote_name(table)
    quoted_pk = connection.ops.quote_name(pk_column)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [quoted_table, pk_column, n],
            )
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(f"SELECT COALESCE(MAX({quoted_pk}), 0) FROM {quoted_table}")  # noqa: S608
        highest = cursor.fetchone()[0]
        if connection.vendor == "sqlite":
            highest = _claim_sqlite_sequence(cursor, table=table, highest=highest, n=n)
    return list(range(highest + 1, highest + n + 1))


def _claim_sqlite_sequence(cursor, *, table: str, highest: int, n: int) -> int:
    """Move the AUTOINCREMENT counter past the claimed ids; returns the id
    just below the first one claimed."""
    cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
    row = cursor.fetchone()
    if row is None:
        cursor.execute(
            "INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, highest + n]
        )
        return highest
    highest = max(highest, row[0])
    cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [highest + n, table])
    return highest
