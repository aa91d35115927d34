"""Delivery to people: who hears of what, once, with the cooldown and the digest."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from alerts.delivery import deliver_pending
from alerts.digest import send_due_digests
from leads.models import Account, AlertTiming, DeliveryState, LeadStatus, OutboxMessage, Person
from leads.outbox import announce_sla
from leads.routing import assign_new_pqls, reassign_by_hand
from leads.services import change_status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def memory_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://pql.example"


def make_pql(name="Harbor Legal LLP", **fields):
    account = Account.objects.create(name=name, status=LeadStatus.PQL, country="US", **fields)
    Person.objects.create(account=account, name="Jo Park", title="Associate", email="jo@harbor.example")
    return account


def test_a_routed_pql_emails_its_rep_once_with_the_link_and_the_person(make_rep, make_team):
    ava = make_rep("ava")
    make_team("Sales", ava)
    account = make_pql()
    assign_new_pqls([account.pk])

    deliver_pending()
    deliver_pending()

    [email] = mail.outbox
    assert email.to == ["ava@sales.example"]
    assert email.subject == "New PQL for you: Harbor Legal LLP"
    assert f"https://pql.example/accounts/{account.pk}/" in email.body
    assert "Jo Park, Associate <jo@harbor.example>" in email.body
    message = OutboxMessage.objects.get(kind="assigned")
    assert (message.email_state, message.slack_state) == (DeliveryState.SENT, DeliveryState.SKIPPED)


def test_managers_hear_of_a_pql_left_unassigned_because_the_team_is_full(
    make_rep, make_team, sales_manager
):
    make_team("Sales", make_rep("ava", capacity=0))
    assign_new_pqls([make_pql().pk])

    deliver_pending()

    [email] = mail.outbox
    assert email.to == ["mia@sales.example"]
    assert email.subject == "Nobody has room for Harbor Legal LLP"
    assert "Team 'Sales' is at capacity (rule 'Sales rule')" in email.body


def test_a_flickering_account_alerts_once_within_the_cooldown(make_rep, make_team, sales_manager, settings):
    settings.ALERTS_COOLDOWN_MINUTES = 60
    make_team("Sales", make_rep("ava", capacity=0))
    account = make_pql()
    for _ in range(3):
        assign_new_pqls([account.pk])
        deliver_pending()
        change_status(account_id=account.pk, to_status="signed_up", cause="scoring")
        change_status(account_id=account.pk, to_status="pql", cause="scoring")

    assert len(mail.outbox) == 1
    cooled = OutboxMessage.objects.filter(kind="unassigned_team_full", email_state="skipped")
    assert cooled.count() == 2
    assert cooled.first().last_error.startswith("cooldown")
    # The CRM still hears of every change.
    assert OutboxMessage.objects.filter(kind="qualified", webhook_state="pending").count() == 3


def test_a_digest_rep_gets_one_email_a_day_with_new_due_and_overdue(make_rep, make_team, settings):
    ava = make_rep("ava", alert_timing=AlertTiming.DIGEST)
    make_team("Sales", ava, sla_hours=48)
    new, due, overdue = make_pql("New Co"), make_pql("Due Co"), make_pql("Late Co")
    assign_new_pqls([new.pk, due.pk, overdue.pk])
    now = timezone.now()
    Account.objects.filter(pk=due.pk).update(sla_due_at=now + timedelta(hours=3))
    Account.objects.filter(pk=overdue.pk).update(sla_due_at=now - timedelta(hours=3))

    deliver_pending()
    assert mail.outbox == []
    assert OutboxMessage.objects.filter(kind="assigned", email_state="held").count() == 3

    settings.ALERTS_DIGEST_HOUR = timezone.localtime(now).hour  # the digest's time has come
    assert send_due_digests(now=now) == 1
    assert send_due_digests(now=now + timedelta(minutes=1)) == 0  # once a day

    [digest] = mail.outbox
    assert digest.subject == "Your pqlsite digest: 3 new, 1 due, 1 overdue"
    assert "- New Co (not sized yet" in digest.body
    assert "Overdue:\n- Late Co" in digest.body
    assert not OutboxMessage.objects.filter(email_state="held").exists()


def test_a_due_lead_of_an_away_rep_escalates_to_their_manager(make_rep, manager, sales_manager):
    ava = make_rep("ava", manager=sales_manager)
    account = make_pql()
    reassign_by_hand([account.pk], ava, changed_by=manager)
    now = timezone.now()
    Account.objects.filter(pk=account.pk).update(sla_due_at=now + timedelta(minutes=20))
    ava.away_until = now + timedelta(days=3)
    ava.save()
    deliver_pending()
    mail.outbox.clear()

    announce_sla(now=now, warning=timedelta(hours=1), lookback=timedelta(days=1))
    deliver_pending()

    [email] = mail.outbox
    assert email.to == ["mia@sales.example"]
    assert email.subject.startswith("Ava is away: Harbor Legal LLP is due for contact by")


def test_an_sla_passed_without_contact_escalates_to_the_manager(make_rep, manager, sales_manager):
    ava = make_rep("ava")
    account = make_pql()
    reassign_by_hand([account.pk], ava, changed_by=manager)
    now = timezone.now()
    Account.objects.filter(pk=account.pk).update(sla_due_at=now - timedelta(minutes=5))
    deliver_pending()
    mail.outbox.clear()

    announce_sla(now=now, warning=timedelta(hours=1), lookback=timedelta(days=1))
    deliver_pending()

    [email] = mail.outbox
    assert set(email.to) == {"mia@sales.example", "morgan@example.com"}
    assert email.subject.startswith("Overdue: Ava has not contacted Harbor Legal LLP")
