"""The lead data model's rules: dedupe of resent events, the append-only
status history, and the one way a status changes."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from leads.models import Account, Event, LeadStatus, StatusCause, StatusChange
from leads.services import change_status
from tests.conftest import run_concurrently

pytestmark = pytest.mark.django_db


def test_a_resent_event_with_the_same_message_id_is_rejected(account):
    Event.objects.create(
        account=account, name="login", occurred_at=timezone.now(), source="web", message_id="m-1"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Event.objects.create(
            account=account, name="login", occurred_at=timezone.now(), source="web", message_id="m-1"
        )
    assert Event.objects.count() == 1


def test_the_same_message_id_from_another_source_is_a_different_event(account):
    for source in ("web", "segment"):
        Event.objects.create(
            account=account, name="login", occurred_at=timezone.now(), source=source, message_id="m-1"
        )
    assert Event.objects.count() == 2


def test_events_get_a_message_id_when_none_is_given(account):
    first, second = (
        Event.objects.create(account=account, name="login", occurred_at=timezone.now())
        for _ in range(2)
    )
    assert first.message_id and first.message_id != second.message_id


def test_country_must_be_a_two_letter_iso_code(account):
    account.country = "USA"
    with pytest.raises(ValidationError) as excinfo:
        account.full_clean()
    assert "country" in excinfo.value.message_dict


def test_status_change_appends_history_with_its_cause(account, manager):
    change = change_status(
        account_id=account.pk,
        to_status=LeadStatus.PQL,
        cause=StatusCause.SCORING,
        reason="invite_sent count 12 > 10",
        details={"criteria": ["invites over ten"]},
    )
    change_status(
        account_id=account.pk, to_status=LeadStatus.CONTACTED, cause=StatusCause.USER, changed_by=manager
    )

    account.refresh_from_db()
    assert account.status == LeadStatus.CONTACTED
    history = list(account.status_changes.order_by("changed_at", "id"))
    assert [(c.from_status, c.to_status, c.cause) for c in history] == [
        ("signed_up", "pql", "scoring"),
        ("pql", "contacted", "user"),
    ]
    assert history[0] == change
    assert history[0].details == {"criteria": ["invites over ten"]}
    assert history[1].changed_by == manager


def test_changing_to_the_current_status_records_nothing(account):
    assert change_status(account_id=account.pk, to_status="signed_up", cause="scoring") is None
    assert not StatusChange.objects.exists()


def test_a_stale_caller_changes_nothing(account):
    change_status(account_id=account.pk, to_status=LeadStatus.DISQUALIFIED, cause=StatusCause.USER)

    stale = change_status(
        account_id=account.pk,
        to_status=LeadStatus.PQL,
        cause=StatusCause.SCORING,
        expected_from=LeadStatus.SIGNED_UP,
    )

    assert stale is None
    assert Account.objects.get(pk=account.pk).status == LeadStatus.DISQUALIFIED
    assert StatusChange.objects.count() == 1


def test_unknown_statuses_are_refused(account):
    with pytest.raises(ValueError):
        change_status(account_id=account.pk, to_status="hot", cause=StatusCause.USER)


def test_status_history_cannot_be_edited(account):
    change = change_status(account_id=account.pk, to_status=LeadStatus.PQL, cause=StatusCause.SCORING)
    change.reason = "rewritten"
    with pytest.raises(TypeError):
        change.save()
    with pytest.raises(TypeError):
        StatusChange.objects.filter(pk=change.pk).update(reason="rewritten")
    assert StatusChange.objects.get(pk=change.pk).reason == ""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_changes_to_the_same_status_are_recorded_once(account):
    results = run_concurrently(
        lambda: change_status(account_id=account.pk, to_status=LeadStatus.PQL, cause=StatusCause.SCORING),
        times=4,
    )

    assert len([r for r in results if r is not None]) == 1
    assert StatusChange.objects.filter(account=account).count() == 1
