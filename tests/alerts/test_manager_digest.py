"""The managers' daily digest, against a real SMTP server (aiosmtpd) and a
local receiver standing in for Slack: a manager who chose it hears of
unowned PQLs and overdue leads once a day, in one message, and never twice
when two workers run the digest at once."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts import manager_digest
from alerts.delivery import deliver_pending
from alerts.manager_digest import send_due_manager_digests
from alerts.services import update_manager_alerts
from leads.models import Account, AlertTiming, DeliveryState, LeadStatus, OutboxMessage, Person
from leads.outbox import Announcement, announce, announce_sla
from leads.routing import assign_new_pqls, reassign_by_hand
from tests.conftest import run_concurrently
from tests.factories import ManagerFactory

from .peers import check_block_kit, free_port

pytestmark = pytest.mark.django_db


def pql(name):
    account = Account.objects.create(name=name, status=LeadStatus.PQL, country="US")
    Person.objects.create(account=account, name="Jo Park", title="Associate", email=f"jo@{name.lower()[:5]}.example")
    return account


def overdue_lead(name, rep, *, by, hours_late=3):
    account = pql(name)
    reassign_by_hand([account.pk], rep, changed_by=by)
    Account.objects.filter(pk=account.pk).update(sla_due_at=timezone.now() - timedelta(hours=hours_late))
    return account


def digest_time(settings, now):
    settings.ALERTS_DIGEST_HOUR = timezone.localtime(now).hour


def test_a_digest_manager_hears_nothing_at_once_then_one_email_and_slack_post_a_day(
    smtp_server, slack, make_rep, make_team, sales_manager, settings
):
    update_manager_alerts(user_id=sales_manager.pk, alert_timing=AlertTiming.DIGEST, slack_webhook_url=slack.url)
    other_manager = ManagerFactory(username="olga", email="olga@sales.example")
    update_manager_alerts(user_id=other_manager.pk, alert_timing=AlertTiming.DIGEST)
    # The reps hear of their own leads by email at once; this test is about the managers.
    ava = make_rep("ava", manager=sales_manager, alert_by_email=False)
    ben = make_rep("ben", manager=other_manager, alert_by_email=False)
    make_team("Sales", make_rep("cara", capacity=0))
    unowned = pql("Nobody Co")
    assign_new_pqls([unowned.pk])  # the team is full: left unassigned
    late = overdue_lead("Late Co", ava, by=sales_manager)
    overdue_lead("Elsewhere Co", ben, by=other_manager)
    now = timezone.now()
    announce_sla(now=now, warning=timedelta(hours=1), lookback=timedelta(days=1))

    deliver_pending()

    assert smtp_server.messages == [] and slack.posts == []  # no stream of one alert per lead
    held = OutboxMessage.objects.filter(email_state=DeliveryState.HELD)
    assert sorted(held.values_list("kind", flat=True)) == ["sla_passed", "sla_passed", "unassigned_team_full"]

    digest_time(settings, now)
    sent = send_due_manager_digests(now=now)
    again = send_due_manager_digests(now=now + timedelta(minutes=5))

    assert (sent.managers, sent.emails, sent.slack) == (2, 2, 1)
    assert (again.managers, again.emails) == (0, 0)  # once a day
    by_recipient = {tuple(recipients): email for recipients, email in smtp_server.messages}
    mia = by_recipient[("mia@sales.example",)]
    assert mia["Subject"] == "Your pqlsite managers' digest: 1 PQL without a rep, 1 overdue"
    body = mia.get_content().replace("\r\n", "\n")
    assert f"- Nobody Co (not sized yet): https://pql.example/accounts/{unowned.pk}/" in body
    assert "Overdue, not contacted (1):\n- Late Co (not sized yet), Ava, due " in body
    assert f"https://pql.example/accounts/{late.pk}/" in body
    assert "Elsewhere Co" not in body  # another manager's rep
    assert "Elsewhere Co" in by_recipient[("olga@sales.example",)].get_content()
    [(_, _, payload)] = slack.posts
    check_block_kit(payload)
    assert payload["text"] == mia["Subject"]
    assert "Nobody Co" in json.dumps(payload["blocks"]) and "Elsewhere Co" not in json.dumps(payload["blocks"])
    assert not OutboxMessage.objects.filter(email_state=DeliveryState.HELD).exists()


def test_an_instant_manager_still_hears_at_once_beside_a_digest_manager(
    smtp_server, make_rep, make_team, sales_manager, manager
):
    update_manager_alerts(user_id=sales_manager.pk, alert_timing=AlertTiming.DIGEST)
    make_team("Sales", make_rep("ava", capacity=0))
    assign_new_pqls([pql("Nobody Co").pk])

    deliver_pending()

    [(recipients, email)] = smtp_server.messages
    assert recipients == ["morgan@example.com"]  # not mia, who takes the digest
    assert email["Subject"] == "Nobody has room for Nobody Co"
    message = OutboxMessage.objects.get(kind="unassigned_team_full")
    assert message.email_state == DeliveryState.SENT


def test_a_disabled_endpoint_still_reaches_a_digest_manager_at_once(smtp_server, sales_manager):
    update_manager_alerts(user_id=sales_manager.pk, alert_timing=AlertTiming.DIGEST)
    announce(
        [
            Announcement(
                kind="endpoint_disabled", account_id=None, version="endpoint-1",
                payload={"endpoint_id": 1, "url": "https://crm.example/hooks", "reason": "failing for a day"},
            )
        ]
    )  # fmt: skip

    deliver_pending()

    [(recipients, email)] = smtp_server.messages
    assert recipients == ["mia@sales.example"]
    assert email["Subject"] == "Webhook endpoint disabled: https://crm.example/hooks"


def test_nothing_to_tell_sends_no_digest_but_counts_the_day(smtp_server, sales_manager, settings):
    update_manager_alerts(user_id=sales_manager.pk, alert_timing=AlertTiming.DIGEST)
    now = timezone.now()
    digest_time(settings, now)

    sent = send_due_manager_digests(now=now)

    assert (sent.managers, sent.emails) == (1, 0)
    assert smtp_server.messages == []


def test_before_the_digest_hour_nothing_goes_out(smtp_server, make_rep, make_team, sales_manager, settings):
    update_manager_alerts(user_id=sales_manager.pk, alert_timing=AlertTiming.DIGEST)
    make_team("Sales", make_rep("ava", capacity=0))
    assign_new_pqls([pql("Nobody Co").pk])
    now = timezone.localtime(timezone.now()).replace(hour=6)
    settings.ALERTS_DIGEST_HOUR = 7

    assert send_due_manager_digests(now=now).emails == 0
    assert send_due_manager_digests(now=now + timedelta(hours=1)).emails == 1


def test_a_long_list_shows_the_first_and_counts_the_rest(smtp_server, make_rep, make_team, sales_manager, settings):
    update_manager_alerts(user_id=sales_manager.pk, alert_timing=AlertTiming.DIGEST)
    make_team("Sales", make_rep("ava", capacity=0))
    accounts = Account.objects.bulk_create(
        [Account(name=f"Co {i}", status=LeadStatus.PQL) for i in range(manager_digest.SHOWN + 5)]
    )
    assign_new_pqls([a.pk for a in accounts])
    now = timezone.now()
    digest_time(settings, now)

    send_due_manager_digests(now=now)

    [(_, email)] = smtp_server.messages
    body = email.get_content().replace("\r\n", "\n")
    assert email["Subject"].endswith(f"{manager_digest.SHOWN + 5} PQLs without a rep, 0 overdue")
    assert body.count("\n- Co ") == manager_digest.SHOWN
    assert "... and 5 more on the team page." in body


def test_an_unreachable_smtp_server_leaves_the_digest_for_the_next_pass(
    smtp_server, make_rep, make_team, sales_manager, settings
):
    update_manager_alerts(user_id=sales_manager.pk, alert_timing=AlertTiming.DIGEST)
    make_team("Sales", make_rep("ava", capacity=0))
    assign_new_pqls([pql("Nobody Co").pk])
    now = timezone.now()
    digest_time(settings, now)
    listening, settings.EMAIL_PORT = settings.EMAIL_PORT, free_port()

    failed = send_due_manager_digests(now=now)
    settings.EMAIL_PORT = listening
    retried = send_due_manager_digests(now=now + timedelta(hours=1))

    assert (failed.failed, failed.managers) == (1, 0)
    assert (retried.emails, retried.managers) == (1, 1)
    assert len(smtp_server.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_digest_at_once_send_each_manager_one(
    smtp_server, make_rep, make_team, settings
):
    managers = [ManagerFactory(username=f"manager{i}", email=f"manager{i}@sales.example") for i in range(4)]
    for user in managers:
        update_manager_alerts(user_id=user.pk, alert_timing=AlertTiming.DIGEST)
    make_team("Sales", make_rep("ava", capacity=0))
    assign_new_pqls([pql(f"Co {i}").pk for i in range(3)])
    deliver_pending()
    assert smtp_server.messages == []
    now = timezone.now()
    digest_time(settings, now)

    results = run_concurrently(lambda: send_due_manager_digests(now=now), times=3)

    assert sum(result.emails for result in results) == 4
    recipients = sorted(r for recipients, _ in smtp_server.messages for r in recipients)
    assert recipients == sorted(user.email for user in managers)


def test_what_was_held_is_let_go_when_no_manager_takes_the_digest_any_more(
    smtp_server, make_rep, make_team, sales_manager, settings
):
    update_manager_alerts(user_id=sales_manager.pk, alert_timing=AlertTiming.DIGEST)
    make_team("Sales", make_rep("ava", capacity=0))
    assign_new_pqls([pql("Nobody Co").pk])
    deliver_pending()
    assert OutboxMessage.objects.get(kind="unassigned_team_full").email_state == DeliveryState.HELD
    update_manager_alerts(user_id=sales_manager.pk, alert_timing=AlertTiming.INSTANT)
    now = timezone.now()
    digest_time(settings, now)

    assert send_due_manager_digests(now=now).emails == 0

    message = OutboxMessage.objects.get(kind="unassigned_team_full")
    assert (message.email_state, message.last_error) == (
        DeliveryState.SKIPPED, "held for a digest no manager takes any more"
    )  # fmt: skip
