"""Lead statuses have one writer, record_transitions: set-based, and every
change it makes has its history row. The other status services go through it."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from leads import services
from leads.models import Account, LeadStatus, StatusCause, StatusChange
from leads.services import Assignment, Transition, record_transitions

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts():
    return [Account.objects.create(name=f"A{i}", status=LeadStatus.SIGNED_UP) for i in range(4)]


def test_many_accounts_change_in_one_statement(accounts, django_assert_num_queries):
    """On PostgreSQL the UPDATE and the INSERT are one statement; elsewhere
    one UPDATE per target status and one INSERT."""
    now = timezone.now()
    moves = [
        Transition(account_id=a.pk, from_status=LeadStatus.SIGNED_UP, to_status=to, reason="why")
        for a, to in zip(accounts, [LeadStatus.PQL, LeadStatus.PQL, LeadStatus.DISQUALIFIED, LeadStatus.PQL],
                         strict=True)
    ]
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 3):
        rows = record_transitions(moves, cause=StatusCause.USER, now=now)
    assert [row.account_id for row in rows] == [a.pk for a in accounts]
    # The rows returned are the rows stored, in the order given.
    stored = StatusChange.objects.in_bulk([row.pk for row in rows])
    assert [(stored[row.pk].account_id, stored[row.pk].to_status) for row in rows] == [
        (a.pk, to) for a, to in zip(accounts, ["pql", "pql", "disqualified", "pql"], strict=True)
    ]
    assert list(Account.objects.order_by("pk").values_list("status", flat=True)) == [
        "pql", "pql", "disqualified", "pql",
    ]
    assert StatusChange.objects.filter(changed_at=now, reason="why").count() == 4


def test_a_transition_to_the_same_status_only_appends_its_row(accounts, django_assert_num_queries):
    account = accounts[0]
    with django_assert_num_queries(1):
        record_transitions(
            [Transition(account_id=account.pk, from_status="signed_up", to_status="signed_up", reason="noted")],
            cause=StatusCause.ROUTING,
            now=timezone.now(),
        )
    assert account.status_changes.get().reason == "noted"


def test_every_status_service_writes_through_record_transitions(accounts, rep, monkeypatch):
    calls = []
    real = services.record_transitions

    def spy(transitions, **options):
        calls.append([(t.account_id, str(t.to_status)) for t in transitions])
        return real(transitions, **options)

    monkeypatch.setattr(services, "record_transitions", spy)
    first, second, third, _ = accounts
    services.change_status(account_id=first.pk, to_status=LeadStatus.PQL, cause=StatusCause.USER)
    services.move_accounts(account_ids=[second.pk, third.pk], from_status="signed_up", to_status="pql",
                           cause=StatusCause.SCORING)
    services.assign_accounts(assignments={first.pk: Assignment(rep_id=rep.pk, reason="by hand")},
                             cause=StatusCause.USER)
    assert calls == [
        [(first.pk, "pql")],
        [(second.pk, "pql"), (third.pk, "pql")],
        [(first.pk, "assigned")],
    ]
    assert Account.objects.get(pk=first.pk).owner_id == rep.pk


def test_each_history_row_keeps_its_reason_details_owner_time_and_author(accounts, rep, manager):
    now = timezone.now()
    earlier = now - timedelta(days=3)
    first, second, *_ = accounts
    rows = record_transitions(
        [
            Transition(account_id=first.pk, from_status="signed_up", to_status="converted", reason="won",
                       details={"deal": {"amount": 1200, "currency": "EUR"}}, owner_id=rep.pk, changed_at=earlier),
            Transition(account_id=second.pk, from_status="signed_up", to_status="pql", reason="é \\ \"quoted\"",
                       details={"trait": 2**70}),  # beyond what orjson writes
        ],
        cause=StatusCause.USER,
        changed_by=manager,
        now=now,
    )
    stored = {change.account_id: change for change in StatusChange.objects.all()}
    assert [row.pk for row in rows] == [stored[first.pk].pk, stored[second.pk].pk]
    won = stored[first.pk]
    assert (won.from_status, won.to_status, won.reason, won.owner_id) == ("signed_up", "converted", "won", rep.pk)
    assert won.details == {"deal": {"amount": 1200, "currency": "EUR"}}
    assert won.changed_at == earlier and won.changed_by == manager and won.cause == StatusCause.USER
    assert stored[second.pk].reason == 'é \\ "quoted"' and stored[second.pk].changed_at == now
    assert stored[second.pk].details == {"trait": 2**70} and stored[second.pk].owner_id is None
    # The accounts' status moved, stamped with the time of recording.
    assert Account.objects.get(pk=first.pk).status == LeadStatus.CONVERTED
    assert Account.objects.get(pk=second.pk).updated_at == now


def test_a_hand_over_writes_owner_assignment_time_and_deadline(accounts, rep):
    due = timezone.now() + timedelta(hours=4)
    account = accounts[0]
    Account.objects.filter(pk=account.pk).update(status=LeadStatus.PQL)
    services.assign_accounts(
        assignments={account.pk: Assignment(rep_id=rep.pk, reason="by hand", sla_due_at=due)},
        cause=StatusCause.USER,
    )
    account.refresh_from_db()
    assert (account.owner_id, account.status, account.sla_due_at) == (rep.pk, LeadStatus.ASSIGNED, due)
    assert account.assigned_at is not None and account.assigned_at == account.updated_at
    services.assign_accounts(assignments={account.pk: Assignment(rep_id=None, reason="back")},
                             cause=StatusCause.USER)
    account.refresh_from_db()
    assert (account.owner_id, account.status, account.assigned_at, account.sla_due_at) == (
        None, LeadStatus.PQL, None, None,
    )


def test_the_writer_knows_the_history_rows_fields_in_order():
    assert [field.attname for field in StatusChange._meta.concrete_fields] == services.STATUS_CHANGE_FIELDS
