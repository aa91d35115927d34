"""The contract leads.bulk_insert relies on under Django: psycopg 3's COPY on
the connection Django holds, inside Django's transaction. A Django or psycopg
upgrade that moves either fails here, not in the seed or the benchmarks."""

import json

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone

from leads.bulk_insert import copy_from_stdin, insert_rows
from leads.models import PendingEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_django_holds_a_psycopg_connection_with_copy():
    connection.ensure_connection()
    assert isinstance(connection.connection, psycopg.Connection)
    with copy_from_stdin(connection, "COPY (SELECT 1) TO STDOUT") as copy:
        assert isinstance(copy, psycopg.Copy)
        assert bytes(b"".join(copy)).strip() == b"1"


def pending_rows(n: int) -> list[tuple]:
    now = timezone.now()
    return [("copy", f"copied-{i}", "u1", "", "login", json.dumps({"i": i}), now, now) for i in range(n)]


COLUMNS = ["source", "message_id", "user_id", "anonymous_id", "name", "properties", "occurred_at", "received_at"]


def test_rows_copied_in_are_read_back_through_the_orm():
    assert insert_rows(PendingEvent, COLUMNS, pending_rows(3)) == 3
    assert sorted(PendingEvent.objects.values_list("message_id", "properties")) == [
        (f"copied-{i}", {"i": i}) for i in range(3)
    ]


def test_a_copy_joins_the_transaction_it_runs_in():
    with pytest.raises(RuntimeError), transaction.atomic():
        insert_rows(PendingEvent, COLUMNS, pending_rows(2))
        assert PendingEvent.objects.count() == 2
        raise RuntimeError("roll back")
    assert not PendingEvent.objects.exists()
