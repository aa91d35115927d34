"""The one place scoring uses Django's query compiler, which is not a public API.

Rescoring reads a few hundred thousand rows per full rescore; iterating a
values_list queryset costs several times the query itself, so the rows come
straight from the driver, with the SQL the ORM compiled. The streaming
rescore and the lab's nested aggregates need that SQL too. Django documents
none of this (`Query.get_compiler`, `SQLCompiler.as_sql`, `select`,
`col_count`, `get_converters`, `apply_converters`): tests/scoring/test_compiled.py
pins what is used here, so a Django upgrade that changes it fails there first.
"""

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet


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
    compiler = rows.query.get_compiler(using=rows.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        return []
    with connections[rows.db].cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    if convert:
        columns = [column for column, *_ in compiler.select[: compiler.col_count]]
        converters = compiler.get_converters(columns)
        if converters:
            fetched = [tuple(row) for row in compiler.apply_converters(fetched, converters)]
    return fetched
