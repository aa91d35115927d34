"""The outbox in the admin: sales ops see every message, where it stands and
what came of it (its alerts and webhook deliveries), filter and search it in
a constant number of queries, and re-queue what failed or is stuck."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from alerts.selectors import MessageState, in_state, with_outcomes
from leads.groups import SALES_MANAGERS
from leads.models import Account, DeliveryState, MessageKind, OutboxBatch, OutboxMessage
from leads.outbox import Announcement, announce
from leads.webhooks import fanout
from leads.webhooks.models import Delivery, DeliveryStatus, Endpoint
from tests.factories import ManagerFactory, RepFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:leads_outboxmessage_changelist")


@pytest.fixture
def endpoint(db):
    return Endpoint.objects.create(url="https://crm.example/hooks", event_types=["lead.qualified"])


def message(account, kind=MessageKind.QUALIFIED, **states):
    announce([Announcement(kind=kind, account_id=account.pk, version=f"v-{account.pk}-{kind}")])
    row = OutboxMessage.objects.get(account=account, kind=kind)
    if states:
        OutboxMessage.objects.filter(pk=row.pk).update(**states)
        row.refresh_from_db()
    return row


def delivery(row, endpoint, status=DeliveryStatus.DELIVERED, **fields):
    fanout.name([row])  # as the fan-out does when it makes a message's deliveries
    return Delivery.objects.create(
        endpoint=endpoint, message_id=row.webhook_id, event_type="lead.qualified", account_id=row.account_id,
        body="{}", status=status, created_at=timezone.now(), **fields,
    )  # fmt: skip


def book(count, endpoint, prefix="co"):
    """`count` messages over every state, each with a webhook delivery."""
    rows = []
    for i in range(count):
        account = Account.objects.create(
            name=f"{prefix.title()} {i}", external_id=f"{prefix}-{i}", domain=f"{prefix}{i}.example"
        )
        rows.append(message(account, webhook_state=DeliveryState.SENT))
        delivery(rows[-1], endpoint, [DeliveryStatus.DELIVERED, DeliveryStatus.PENDING, DeliveryStatus.FAILED][i % 3])
    return rows


def test_the_list_takes_the_same_queries_for_3_messages_as_for_30(admin_client, endpoint, django_assert_num_queries):
    book(3, endpoint)
    with django_assert_num_queries(5) as few:
        assert admin_client.get(CHANGELIST).status_code == 200
    book(30, endpoint, prefix="more")
    with django_assert_num_queries(5) as many:
        page = admin_client.get(CHANGELIST)
    assert page.status_code == 200
    assert len(few.captured_queries) == len(many.captured_queries)
    assert page.content.decode().count('class="action-checkbox"') == 33


def test_the_list_shows_state_kind_account_link_and_webhook_outcome(admin_client, endpoint):
    account = Account.objects.create(name="Harbor Legal", external_id="harbor")
    row = message(account, webhook_state=DeliveryState.SENT)
    delivery(row, endpoint, DeliveryStatus.FAILED, attempts=11, last_response_code=500)

    page = admin_client.get(CHANGELIST).content.decode()

    assert "Qualified as a PQL" in page
    assert f'href="/accounts/{account.pk}/"' in page and "Harbor Legal" in page
    assert "Failed" in page
    assert f"?q={row.webhook_id}" in page and "0 of 1 delivered, 1 failed" in page


def test_the_state_of_a_message_over_its_channels(endpoint):
    accounts = [Account.objects.create(name=f"Co {i}") for i in range(5)]
    sent = dict(email_state=DeliveryState.SENT, slack_state=DeliveryState.SKIPPED, webhook_state=DeliveryState.SENT)
    delivered = message(accounts[0], **sent)
    delivery(delivered, endpoint, DeliveryStatus.DELIVERED)
    email_failed = message(accounts[1], **{**sent, "email_state": DeliveryState.FAILED})
    held = message(accounts[2], **{**sent, "email_state": DeliveryState.HELD})
    webhook_waiting = message(accounts[3], **sent)
    delivery(webhook_waiting, endpoint, DeliveryStatus.PENDING)
    webhook_failed = message(accounts[4], **sent)
    delivery(webhook_failed, endpoint, DeliveryStatus.FAILED)

    states = dict(with_outcomes(OutboxMessage.objects.all()).values_list("pk", "state"))
    assert states == {
        delivered.pk: "delivered",
        email_failed.pk: "failed",
        held.pk: "waiting",
        webhook_waiting.pk: "waiting",
        webhook_failed.pk: "failed",
    }
    for state in MessageState.values:
        filtered = set(in_state(OutboxMessage.objects.all(), state).values_list("pk", flat=True))
        assert filtered == {pk for pk, value in states.items() if value == state}


def test_filters_by_state_kind_and_date_and_searches_by_account(admin_client, endpoint):
    rows = book(3, endpoint)  # delivered, waiting, failed
    old = rows[0]
    OutboxMessage.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    unassigned = message(Account.objects.create(name="Nobody Co", external_id="nobody"), MessageKind.UNASSIGNED)

    def shown(query):
        page = admin_client.get(CHANGELIST + query)
        assert page.status_code == 200
        return {row.pk for row in page.context["cl"].result_list}

    assert shown("?state=failed") == {rows[2].pk}
    assert shown("?state=delivered") == {rows[0].pk}
    assert shown("?state=waiting") == {rows[1].pk, unassigned.pk}
    assert shown("?kind__exact=unassigned") == {unassigned.pk}
    week_ago = timezone.localtime() - timedelta(days=7)
    assert shown("?" + urlencode({"created_at__gte": str(week_ago)})) == {
        rows[1].pk, rows[2].pk, unassigned.pk
    }  # fmt: skip
    assert shown("?q=co-1") == {rows[1].pk}  # exact external id
    assert shown("?q=co2.example") == {rows[2].pk}  # exact domain
    assert shown("?q=nobody") == {unassigned.pk}  # part of the name


def test_the_detail_page_lists_the_webhook_deliveries_and_is_read_only(admin_client, endpoint):
    row = book(1, endpoint)[0]
    page = admin_client.get(reverse("admin:leads_outboxmessage_change", args=[row.pk]))

    text = page.content.decode()
    assert page.status_code == 200
    assert row.webhook_id in text and "https://crm.example/hooks" in text and "Delivered" in text
    assert 'name="_save"' not in text
    assert admin_client.post(reverse("admin:leads_outboxmessage_change", args=[row.pk]), {}).status_code == 403


def test_requeue_sends_what_failed_or_waits_again_and_leaves_what_was_delivered(admin_client, endpoint):
    later = timezone.now() + timedelta(hours=3)
    accounts = [Account.objects.create(name=f"Co {i}") for i in range(3)]
    failed = message(accounts[0], MessageKind.ASSIGNED, email_state=DeliveryState.FAILED, attempts=8,
                     slack_state=DeliveryState.SENT, last_error="email: refused", webhook_state=DeliveryState.SENT)
    stuck = message(accounts[1], MessageKind.ASSIGNED, email_state=DeliveryState.PENDING, attempts=3,
                    next_attempt_at=later, slack_state=DeliveryState.SKIPPED, webhook_state=DeliveryState.SENT)
    done = message(accounts[2], MessageKind.ASSIGNED, email_state=DeliveryState.SENT, slack_state=DeliveryState.SENT,
                   webhook_state=DeliveryState.SENT)  # fmt: skip
    failed_delivery = delivery(failed, endpoint, DeliveryStatus.FAILED, attempts=11)
    waiting_delivery = delivery(stuck, endpoint, DeliveryStatus.PENDING, attempts=4, next_attempt_at=later)
    delivered = delivery(done, endpoint, DeliveryStatus.DELIVERED, attempts=1)

    page = admin_client.post(
        CHANGELIST, {"action": "requeue", "_selected_action": [failed.pk, stuck.pk, done.pk]}, follow=True
    )

    assert "Re-queued 2 alert message(s) and 2 webhook deliveries." in page.content.decode()
    failed.refresh_from_db()
    assert (failed.email_state, failed.slack_state, failed.attempts, failed.last_error) == (
        DeliveryState.PENDING, DeliveryState.SENT, 0, ""
    )  # fmt: skip
    stuck.refresh_from_db()
    assert (stuck.email_state, stuck.next_attempt_at, stuck.attempts) == (DeliveryState.PENDING, None, 0)
    done.refresh_from_db()
    assert (done.email_state, done.slack_state) == (DeliveryState.SENT, DeliveryState.SENT)
    for row in (failed_delivery, waiting_delivery):
        row.refresh_from_db()
        assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 0)
        assert row.next_attempt_at <= timezone.now()
    delivered.refresh_from_db()
    assert (delivered.status, delivered.attempts) == (DeliveryStatus.DELIVERED, 1)


def test_a_sales_manager_sees_the_outbox_and_may_requeue_a_rep_may_not(endpoint):
    group, _ = Group.objects.get_or_create(name=SALES_MANAGERS)
    # The migration grants these; an earlier transactional test's flush may have emptied the group.
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="leads", codename="view_outboxmessage"),
        *Permission.objects.filter(content_type__app_label="webhooks", codename="change_delivery"),
    )
    row = book(1, endpoint)[0]
    manager = Client()
    manager.force_login(ManagerFactory(username="olga"))
    page = manager.get(CHANGELIST)
    assert page.status_code == 200
    assert "requeue" in dict(page.context["action_form"].fields["action"].choices)
    assert manager.get(reverse("admin:leads_outboxmessage_change", args=[row.pk])).status_code == 200

    rep = Client()
    rep.force_login(RepFactory(user__username="ravi", user__is_staff=True).user)
    assert rep.get(CHANGELIST).status_code in (302, 403)


def test_a_batch_waiting_to_be_unfolded_is_listed_with_its_number_of_messages(admin_client):
    OutboxBatch.objects.create(notices='[["qualified", 1, null, null, 7, {}, false, null], '
                                       '["qualified", 2, null, null, 8, {}, false, null]]')

    page = admin_client.get(reverse("admin:leads_outboxbatch_changelist"))

    assert page.status_code == 200
    assert '<td class="field-messages">2</td>' in page.content.decode()
    assert admin_client.get(reverse("admin:leads_outboxbatch_add")).status_code == 403
