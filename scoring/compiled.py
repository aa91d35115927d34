"""The one place scoring uses Django's query compiler, which is not a public API.

Rescoring reads a few hundred thousand rows per full rescore; iterating a
values_list queryset costs several times the query itself, so the rows come
straight from the driver, with the SQL the ORM compiled. The streaming
rescore and the lab's nested aggregates need that SQL too. Django documents
none of this (`Query.get_compiler`, `SQLCompiler.as_sql`, `select`,
`col_count`, `get_converters`, `apply_converters`): tests/scoring/test_compiled.py
pins what is used here, so a Django upgrade that changes it fails there first.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.models.sql.compiler import SQLCompiler


def sql_of(queryset: QuerySet) -> tuple[str, tuple]:
    """The SQL and parameters the queryset would run (EmptyResultSet when it
    can match nothing, e.g. `pk__in=[]`)."""
    return queryset.query.get_compiler(using=queryset.db).as_sql()


def fetch_rows(rows: QuerySet, *, convert: bool = True) -> list[tuple]:
    """A values_list query's rows as tuples straight from the driver.

    Converters run only for the columns that have any (JSON traits,
    SQLite's types); convert=False skips them where the driver already
    returns the values (counts).
    """
    try:
        query = compiled(rows, convert=convert)
    except EmptyResultSet:
        return []
    return query.fetch(query.params, using=rows.db)


@dataclass(frozen=True)
class Compiled:
    """A values_list query compiled once, to run again with other values for
    some of its parameters: compiling the facts queries of a handful of
    accounts cost more than running them."""

    sql: str
    params: tuple
    converters: dict
    compiler: SQLCompiler

    def fetch(self, params: Iterable, *, using: str = DEFAULT_DB_ALIAS) -> list[tuple]:
        """Rows as fetch_rows gives them, with these parameters instead."""
        with connections[using].cursor() as cursor:
            cursor.execute(self.sql, tuple(params))
            fetched = cursor.fetchall()
        if self.converters:
            converted = self.compiler.apply_converters(fetched, self.converters)
            fetched = [tuple(row) for row in converted]
        return fetched


def compiled(rows: QuerySet, *, convert: bool = True) -> Compiled:
    """The query's SQL, parameters and converters (the columns that have
    any: JSON traits, SQLite's types), kept. EmptyResultSet when it can match
    nothing (`pk__in=[]`)."""
    compiler = rows.query.get_compiler(using=rows.db)
    sql, params = compiler.as_sql()
    converters = {}
    if convert:
        converters = compiler.get_converters([column for column, *_ in compiler.select[: compiler.col_count]])
    return Compiled(sql, tuple(params), converters, compiler)
