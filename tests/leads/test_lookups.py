"""`pk__any`: the accounts a rescore moves, as one array parameter."""

import pytest

from leads.models import Account, Event
from tests.factories import AccountFactory, EventFactory

pytestmark = pytest.mark.django_db


def test_any_matches_what_in_matches():
    accounts = AccountFactory.create_batch(4)
    wanted = [accounts[0].pk, accounts[2].pk, 10**12]

    assert set(Account.objects.filter(pk__any=wanted)) == set(Account.objects.filter(pk__in=wanted))


def test_any_works_on_a_foreign_key():
    first, second = AccountFactory.create_batch(2)
    event = EventFactory(account=first)
    EventFactory(account=second)

    assert list(Event.objects.filter(account_id__any=[first.pk])) == [event]


def test_any_of_nothing_sends_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert list(Account.objects.filter(pk__any=[])) == []
