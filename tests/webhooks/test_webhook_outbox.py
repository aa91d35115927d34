"""From a change to the CRM: each outbox message becomes one delivery per
endpoint that wants it, in the fan-out's own transaction, and reaches a
real receiver signed and once."""

import pytest
from django.db import transaction
from django.utils import timezone

from leads.models import DeliveryState, LeadStatus, MessageKind, OutboxMessage, StatusCause
from leads.outbox import Announcement, announce
from leads.services import Assignment, assign_accounts, change_status, record_outcome
from leads.webhooks import delivery, fanout, jobs
from leads.webhooks.endpoints import create_endpoint
from leads.webhooks.models import Delivery
from scoring.rescoring import rescore_accounts
from tests.conftest import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def crm(receiver):
    endpoint, receiver.secret = create_endpoint(
        url=receiver.url,
        event_types=["lead.qualified", "lead.assigned", "lead.contacted", "lead.converted"],
    )
    return endpoint


def test_a_hand_raise_reaches_the_crm_once_signed_with_its_reasons(
    crm, receiver, definition, account, person, make_event, rep
):
    make_event("contact_sales_clicked", person=person)
    rescore_accounts([account.pk])
    assert fanout.fan_out_pending().messages >= 1
    delivery.deliver_due(crm.pk)

    [request] = receiver.received
    assert request["verified"]
    event = request["payload"]
    message = OutboxMessage.objects.get(kind=MessageKind.QUALIFIED)
    assert event["type"] == "lead.qualified" and request["id"] == message.webhook_id == event["id"]
    data = event["data"]["account"]
    assert data["external_id"] == "acct_harbor" and data["status"] in ("pql", "assigned")
    assert data["reasons"] == ["Asked for sales"] and data["reasons_text"] == "Asked for sales"
    assert data["qualified_by"] == ["At once: Asked for sales"]
    assert data["explanation"]["definition"] == "Sales-ready"
    assert event["data"]["change"]["from_status"] == "signed_up"
    assert event["data"]["change"]["to_status"] == "pql"
    message.refresh_from_db()
    assert message.webhook_state == DeliveryState.SENT
    assert message.webhook_id == f"msg_{message.message_id.hex}"
    # Fanned out again (a second worker, a retried job): still one delivery,
    # under the same webhook-id.
    OutboxMessage.objects.filter(pk=message.pk).update(webhook_state=DeliveryState.PENDING)
    fanout.fan_out_pending()
    assert Delivery.objects.filter(message_id=message.webhook_id).count() == 1


def test_assignment_and_outcomes_carry_the_rep(crm, receiver, account, rep):
    change_status(account_id=account.pk, to_status=LeadStatus.PQL, cause=StatusCause.SCORING)
    assign_accounts(
        assignments={account.pk: Assignment(rep.pk, "Routed by rule Legal", timezone.now())},
        cause=StatusCause.ROUTING,
    )
    record_outcome(account_id=account.pk, outcome=LeadStatus.CONTACTED, changed_by=rep.user)
    while fanout.fan_out_pending().messages:
        pass
    delivery.deliver_due(crm.pk)
    types = [request["payload"]["type"] for request in receiver.received]
    assert types == ["lead.qualified", "lead.assigned", "lead.contacted"]
    assigned = receiver.received[1]["payload"]["data"]
    assert assigned["change"]["rep"] == {"name": "Ava Reyes", "email": "ava@example.com"}
    assert assigned["account"]["owner"]["email"] == "ava@example.com"
    assert all(request["verified"] for request in receiver.received)


def test_messages_no_endpoint_wants_are_skipped(crm, account):
    change_status(account_id=account.pk, to_status=LeadStatus.DISQUALIFIED, cause=StatusCause.USER)
    fanout.fan_out_pending()
    skipped = OutboxMessage.objects.get()
    assert (skipped.webhook_state, skipped.message_id) == (DeliveryState.SKIPPED, None)
    assert not Delivery.objects.exists()


def test_a_change_that_rolls_back_sends_nothing(crm, receiver, account):
    with pytest.raises(RuntimeError), transaction.atomic():
        change_status(account_id=account.pk, to_status=LeadStatus.PQL, cause=StatusCause.SCORING)
        raise RuntimeError("the request failed after the change")
    fanout.fan_out_pending()
    delivery.deliver_due(crm.pk)
    assert receiver.received == [] and not OutboxMessage.objects.exists()


def test_two_workers_fanning_out_at_once_make_one_delivery_each(crm, receiver, account):
    announce(
        [
            Announcement(kind=MessageKind.QUALIFIED, account_id=account.pk, version=f"v{i}",
                         payload={"from_status": "signed_up", "to_status": "pql"})
            for i in range(300)
        ]
    )

    def work():
        total = 0
        while batch := fanout.fan_out_pending(limit=40).messages:
            total += batch
        return total

    assert sum(run_concurrently(work, times=3)) == 300
    assert Delivery.objects.count() == 300
    assert not OutboxMessage.objects.filter(webhook_state=DeliveryState.PENDING).exists()


def test_the_outbox_wakes_the_fan_out_after_commit_and_workers_deliver(
    redis_queues, crm, receiver, account
):
    from rq import SimpleWorker

    with transaction.atomic():
        change_status(account_id=account.pk, to_status=LeadStatus.PQL, cause=StatusCause.SCORING)
        assert jobs.webhooks_queue().count == 0  # not before the commit
    assert jobs.webhooks_queue().count == 1
    queue = jobs.webhooks_queue()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert len(receiver.accepted) == 1 and receiver.received[0]["verified"]


def test_the_sweep_fans_out_what_a_lost_wake_up_left(redis_queues, crm, receiver, account, monkeypatch):
    from rq import SimpleWorker

    monkeypatch.setattr(jobs, "enqueue_fan_out", lambda: False)  # the wake-up is lost
    change_status(account_id=account.pk, to_status=LeadStatus.PQL, cause=StatusCause.SCORING)
    monkeypatch.undo()
    assert OutboxMessage.objects.get().webhook_state == DeliveryState.PENDING
    jobs.sweep_job()
    queue = jobs.webhooks_queue()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert len(receiver.accepted) == 1


@pytest.mark.postgres
def test_a_change_written_as_a_batch_reaches_the_crm_before_a_later_change_of_the_same_transaction(
    crm, receiver, rep, monkeypatch
):
    from leads import outbox
    from leads.models import Account
    from leads.services import move_accounts

    monkeypatch.setattr(outbox, "BATCH_FROM", 3)
    accounts = [
        Account.objects.create(name=f"Co {i}", external_id=f"co-{i}", status=LeadStatus.SIGNED_UP)
        for i in range(3)
    ]
    with transaction.atomic():  # as a rescore's chunk: qualified in bulk, then one routed
        move_accounts(
            account_ids=[a.pk for a in accounts], from_status=LeadStatus.SIGNED_UP, to_status=LeadStatus.PQL,
            cause=StatusCause.SCORING,
        )
        assign_accounts(assignments={accounts[0].pk: Assignment(rep.pk, "routed")}, cause=StatusCause.ROUTING)
    # The assignment's message is a row already; the qualifications wait in a batch.
    assert list(OutboxMessage.objects.values_list("kind", flat=True)) == ["assigned"]

    while fanout.fan_out_pending().messages:
        pass
    delivery.deliver_due(crm.pk)

    about_the_first = [r["payload"]["type"] for r in receiver.received
                       if r["payload"]["data"]["account"]["external_id"] == "co-0"]
    assert about_the_first == ["lead.qualified", "lead.assigned"]
