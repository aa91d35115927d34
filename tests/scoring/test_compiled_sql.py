"""The contract scoring.compiled relies on: Django's query compiler, which is
not a public API. A Django upgrade that changes it fails here first."""

import pytest
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.db.models.sql.query import Query

from leads.models import Account, Person
from scoring.compiled import compiled, fetch_rows, sql_of

pytestmark = pytest.mark.django_db


def test_the_compiler_members_used_still_exist():
    assert callable(Query.get_compiler)
    for member in ("as_sql", "get_converters", "apply_converters"):
        assert callable(getattr(SQLCompiler, member)), member
    compiler = Account.objects.values_list("id", "traits").query.get_compiler(using="default")
    compiler.as_sql()  # fills select and col_count
    assert compiler.col_count == 2
    assert [column.target.name for column, *_ in compiler.select[: compiler.col_count]] == ["id", "traits"]


def test_rows_fetched_from_the_driver_equal_the_orms_with_converters(account):
    Account.objects.filter(pk=account.pk).update(traits={"plan": "pro", "seats": 3})
    Person.objects.create(account=account, email="jo@example.com", traits={"role": "cfo"})
    rows = Account.objects.order_by("pk").values_list("id", "name", "traits", "signed_up_at")
    assert fetch_rows(rows) == list(rows)
    people = Person.objects.values_list("account_id", "traits")
    assert fetch_rows(people) == list(people)


def test_counts_need_no_converters_and_an_empty_scope_reads_nothing(account):
    from django.db.models import Count

    counts = Account.objects.values("id").annotate(n=Count("people")).values_list("id", "n")
    assert fetch_rows(counts, convert=False) == list(counts)
    assert fetch_rows(Account.objects.filter(pk__in=[]).values_list("id")) == []


def test_the_sql_of_a_queryset_runs_as_the_queryset_does(account):
    rows = Account.objects.filter(name__startswith="Harbor").values_list("id", "name")
    sql, params = sql_of(rows)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert [tuple(row) for row in cursor.fetchall()] == list(rows)


def test_a_query_compiled_once_runs_again_with_other_parameters(account):
    Account.objects.filter(pk=account.pk).update(traits={"plan": "pro"})
    other = Account.objects.create(name="Quay", traits={"plan": "free"})
    query = compiled(Account.objects.filter(pk=account.pk).values_list("id", "traits"))
    assert query.fetch(query.params) == [(account.pk, {"plan": "pro"})]
    assert query.fetch([other.pk]) == [(other.pk, {"plan": "free"})]
