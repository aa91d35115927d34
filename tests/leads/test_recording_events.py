"""New events are stored once and move the account's last event time; the
caller is told which accounts they touched, to ask for their rescore."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import Account, Event, LeadStatus
from leads.services import NewEvent, record_events
from scoring import jobs

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)



def logins(account, count, *, prefix="m", at=NOW):
    return [
        NewEvent(
            account_id=account.pk,
            name="login",
            occurred_at=at - timedelta(minutes=i),
            message_id=f"{prefix}-{i}",
            properties={"device": "web"},
        )
        for i in range(count)
    ]


def test_a_resent_batch_stores_nothing_twice(account):
    first = record_events(logins(account, 5))
    again = record_events(logins(account, 7))

    assert (first.stored, first.duplicates) == (5, 0)
    assert (again.stored, again.duplicates) == (2, 5)
    assert Event.objects.filter(account=account).count() == 7
    assert Event.objects.get(message_id="m-0").properties == {"device": "web"}


def test_the_same_message_id_from_two_sources_is_two_events(account):
    web = NewEvent(account_id=account.pk, name="login", occurred_at=NOW, message_id="x", source="web")
    cdp = NewEvent(account_id=account.pk, name="login", occurred_at=NOW, message_id="x", source="cdp")
    assert record_events([web, cdp]).stored == 2


def test_last_event_time_only_moves_forward(account):
    record_events(logins(account, 1, prefix="new"))
    record_events(logins(account, 1, prefix="old", at=NOW - timedelta(days=3)))

    account.refresh_from_db()
    assert account.last_event_at == NOW


def test_last_event_time_is_kept_to_the_minute(account):
    record_events(logins(account, 1, prefix="first"))
    record_events(logins(account, 1, prefix="soon", at=NOW + timedelta(seconds=30)))
    account.refresh_from_db()
    assert account.last_event_at == NOW  # not rewritten for 30 seconds

    record_events(logins(account, 1, prefix="later", at=NOW + timedelta(minutes=2)))
    account.refresh_from_db()
    assert account.last_event_at == NOW + timedelta(minutes=2)


def test_large_batches_are_stored_in_several_statements(account, person):
    batch = logins(account, 1200)
    assert record_events(batch).stored == 1200
    assert Event.objects.count() == 1200


def test_recording_events_leaves_rescoring_to_the_caller(
    inline_queues, ten_logins, account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        recorded = record_events(logins(account, 10))

    assert callbacks == []
    assert recorded.account_ids == [account.pk]
    account.refresh_from_db()
    assert account.status == LeadStatus.SIGNED_UP


def test_the_accounts_recorded_are_rescored_when_the_caller_asks(
    inline_queues, ten_logins, account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        jobs.request_rescore(record_events(logins(account, 10)).account_ids)

    account.refresh_from_db()
    assert account.status == LeadStatus.PQL


def test_two_batches_for_two_accounts_enqueue_one_coalesced_job(
    redis_queues, ten_logins, account, django_capture_on_commit_callbacks
):
    other = Account.objects.create(name="Other Co")
    with django_capture_on_commit_callbacks(execute=True):
        jobs.request_rescore(record_events(logins(account, 3) + logins(other, 3, prefix="o")).account_ids)
        jobs.request_rescore(record_events(logins(account, 3, prefix="later")).account_ids)

    queue = jobs.scoring_queue()
    assert queue.count == 1
    assert sorted(int(i) for i in redis_queues.zrange(jobs.ROUTINE, 0, -1)) == sorted(
        [account.pk, other.pk]
    )


def test_duplicates_alone_touch_no_account(account):
    record_events(logins(account, 2))
    result = record_events(logins(account, 2))
    assert result.account_ids == []
    assert result.duplicates == 2
