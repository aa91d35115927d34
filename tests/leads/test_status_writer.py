"""Lead statuses have one writer, record_transitions: set-based, and every
change it makes has its history row. The other status services go through it."""

import pytest
from django.utils import timezone

from leads import services
from leads.models import Account, LeadStatus, StatusCause, StatusChange
from leads.services import Assignment, Transition, record_transitions

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts():
    return [Account.objects.create(name=f"A{i}", status=LeadStatus.SIGNED_UP) for i in range(4)]


def test_many_accounts_change_in_one_update_per_status_and_one_insert(accounts, django_assert_num_queries):
    now = timezone.now()
    moves = [
        Transition(account_id=a.pk, from_status=LeadStatus.SIGNED_UP, to_status=to, reason="why")
        for a, to in zip(accounts, [LeadStatus.PQL, LeadStatus.PQL, LeadStatus.DISQUALIFIED, LeadStatus.PQL],
                         strict=True)
    ]
    with django_assert_num_queries(3):
        rows = record_transitions(moves, cause=StatusCause.USER, now=now)
    assert [row.account_id for row in rows] == [a.pk for a in accounts]
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
