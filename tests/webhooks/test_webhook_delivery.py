"""Webhooks against real receivers on this machine: signed, retried,
delivered once per webhook-id, and a slow or absent receiver never holds
up another."""

import logging
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from alerts.delivery import deliver_pending
from leads.models import MessageKind, OutboxMessage
from leads.webhooks import delivery, jobs
from leads.webhooks.endpoints import create_endpoint, rotate_secret
from leads.webhooks.models import Attempt, AttemptOutcome, Delivery, DeliveryStatus, Endpoint
from leads.webhooks.payloads import Message
from tests.conftest import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def endpoint_for(peer, *, types=("lead.qualified",), **fields) -> Endpoint:
    endpoint, secret = create_endpoint(url=peer.url, event_types=list(types), **fields)
    peer.secret = secret
    return endpoint


def message(account=None, *, type="lead.qualified", **change) -> Message:
    return Message(
        id=uuid.uuid4().hex,
        type=type,
        account_id=account.pk if account else None,
        occurred_at=timezone.now(),
        change=change,
    )


def deliver_until_idle(endpoint_id, *, seconds=10):
    """What workers would do: run until nothing is due (retries included)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        delivery.deliver_due(endpoint_id)
        if not Delivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING).exists():
            return
        time.sleep(0.05)
    raise AssertionError("deliveries still pending")


def test_receiver_verifies_the_signature_and_reads_the_payload(receiver, account, rep):
    account.owner = rep
    account.save()
    endpoint = endpoint_for(receiver)
    sent = message(account, from_status="signed_up", to_status="pql")
    assert delivery.fan_out([sent]) == {endpoint.pk: 1}

    run = delivery.deliver_due(endpoint.pk)

    assert run.delivered == 1
    [request] = receiver.received
    assert request["verified"]
    assert request["id"] == sent.id
    assert abs(int(request["headers"]["webhook-timestamp"]) - time.time()) < 5
    body = request["payload"]
    assert body["type"] == "lead.qualified" and body["version"] == 1 and body["id"] == sent.id
    data = body["data"]["account"]
    assert data["external_id"] == "acct_harbor"
    assert data["domain"] == "harborlegal.com"
    assert data["name"] == "Harbor Legal LLP"
    assert data["owner"] == {"name": "Ava Reyes", "email": "ava@example.com"}
    assert data["link"] == f"https://pql.example.com/accounts/{account.pk}/"
    assert body["data"]["change"] == {"from_status": "signed_up", "to_status": "pql"}
    saved = Delivery.objects.get()
    assert saved.status == DeliveryStatus.DELIVERED and saved.attempts == 1
    attempt = Attempt.objects.get()
    assert attempt.response_code == 200 and attempt.outcome == AttemptOutcome.DELIVERED
    assert Endpoint.objects.get().last_success_at is not None


def test_only_wanted_event_types_and_only_once_per_message(receiver, account):
    endpoint = endpoint_for(receiver, types=["lead.converted"])
    qualified, converted = message(account), message(account, type="lead.converted")
    assert delivery.fan_out([qualified, converted]) == {endpoint.pk: 1}
    assert delivery.fan_out([converted]) == {}  # fanned out again: stored once
    deliver_until_idle(endpoint.pk)
    assert [request["id"] for request in receiver.received] == [converted.id]


def test_a_500_is_retried_under_the_same_webhook_id_until_a_200(receiver, account):
    receiver.answers = [500, 502]
    endpoint = endpoint_for(receiver)
    sent = message(account)
    delivery.fan_out([sent])

    delivery.deliver_due(endpoint.pk)
    saved = Delivery.objects.get()
    assert saved.status == DeliveryStatus.PENDING and saved.last_response_code == 500
    assert saved.next_attempt_at > timezone.now()  # backing off, not hammering
    assert delivery.deliver_due(endpoint.pk).sent == 0
    deliver_until_idle(endpoint.pk)

    assert [request["status"] for request in receiver.received] == [500, 502, 200]
    assert {request["id"] for request in receiver.received} == {sent.id}
    assert all(request["verified"] for request in receiver.received)
    assert receiver.duplicates() == 0
    assert list(Attempt.objects.order_by("attempted_at", "id").values_list("response_code", "outcome")) == [
        (500, "retry"), (502, "retry"), (200, "delivered")
    ]
    assert Endpoint.objects.get().failing_since is None


def test_a_4xx_other_than_408_and_429_is_final(receiver, account):
    receiver.answers = [400]
    endpoint = endpoint_for(receiver)
    delivery.fan_out([message(account)])
    delivery.deliver_due(endpoint.pk)
    time.sleep(0.3)
    delivery.deliver_due(endpoint.pk)
    saved = Delivery.objects.get()
    assert saved.status == DeliveryStatus.FAILED and saved.attempts == 1
    assert "HTTP 400" in saved.last_error


def test_retries_end_after_the_schedule_and_replay_sends_again(receiver, account):
    receiver.answers = [503, 500, 500, 500]
    endpoint = endpoint_for(receiver)
    sent = message(account)
    delivery.fan_out([sent])
    deliver_until_idle(endpoint.pk)
    saved = Delivery.objects.get()
    assert saved.status == DeliveryStatus.FAILED and saved.attempts == 4  # 1 + 3 retries

    delivery.replay(Delivery.objects.all())
    deliver_until_idle(endpoint.pk)
    assert Delivery.objects.get().status == DeliveryStatus.DELIVERED
    assert {request["id"] for request in receiver.received} == {sent.id}


def test_429_pauses_the_endpoint_for_its_retry_after(receiver, account):
    receiver.answers = [429]
    receiver.extra_headers = {"Retry-After": "1"}
    endpoint = endpoint_for(receiver)
    delivery.fan_out([message(account), message(account)])
    delivery.deliver_due(endpoint.pk)
    assert len(receiver.received) == 1  # the second waits with the endpoint
    paused = Endpoint.objects.get().paused_until - timezone.now()
    assert timedelta(seconds=0.5) < paused <= timedelta(seconds=1)
    time.sleep(0.5)
    assert delivery.deliver_due(endpoint.pk).sent == 0
    receiver.extra_headers = {}
    deliver_until_idle(endpoint.pk)
    assert len(receiver.accepted) == 2 and receiver.duplicates() == 0


def test_a_silent_receiver_times_out_without_delaying_another_endpoint(
    silent_receiver, receiver, account
):
    silent = endpoint_for(silent_receiver)
    answering = endpoint_for(receiver)
    delivery.fan_out([message(account) for _ in range(3)])
    started = time.monotonic()
    runs = {}

    def work(endpoint_id):
        try:
            runs[endpoint_id] = delivery.deliver_due(endpoint_id)
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(pk,)) for pk in (silent.pk, answering.pk)]
    for worker in workers:
        worker.start()
    assert receiver.wait_for(3, timeout=1.5)
    answered_after = time.monotonic() - started
    for worker in workers:
        worker.join()

    assert answered_after < 1.0  # the silent one times out after a second
    assert runs[silent.pk].sent == 1  # one timeout pauses it: the rest wait, holding no worker
    attempt = Attempt.objects.get(endpoint=silent)
    assert attempt.response_code is None and "Timed out" in attempt.error
    assert 900 <= attempt.duration_ms < 2500
    silent.refresh_from_db()
    assert silent.paused_until > timezone.now() and silent.failing_since is not None
    assert delivery.deliver_due(silent.pk).sent == 0  # paused: returns at once
    assert Delivery.objects.filter(endpoint=answering, status="delivered").count() == 3


def test_a_receiver_that_is_down_gets_everything_when_it_returns(closed_port, make_receiver, account):
    endpoint, secret = create_endpoint(
        url=f"http://127.0.0.1:{closed_port}/hooks", event_types=["lead.qualified"]
    )
    sent = [message(account) for _ in range(5)]
    delivery.fan_out(sent)
    run = delivery.deliver_due(endpoint.pk)
    assert run.sent == 1 and run.delivered == 0
    attempt = Attempt.objects.get()
    assert "Connection failed: connection refused" in attempt.error

    peer = make_receiver(closed_port)
    peer.secret = secret
    time.sleep(0.25)  # the endpoint's pause
    deliver_until_idle(endpoint.pk)
    assert sorted(request["id"] for request in peer.accepted) == sorted(m.id for m in sent)
    assert all(request["verified"] for request in peer.received)
    assert peer.duplicates() == 0


def test_two_workers_at_once_deliver_each_webhook_once(settings, receiver, account):
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 2
    settings.WEBHOOKS_BATCH = 5
    endpoint = endpoint_for(receiver)
    sent = [message(account) for _ in range(120)]
    delivery.fan_out(sent)

    def work():
        sent_here = 0
        for _ in range(200):
            sent_here += delivery.deliver_due(endpoint.pk).sent
            if not delivery.has_due_work(endpoint.pk):
                break
        return sent_here

    counts = run_concurrently(work, times=4)
    assert sum(counts) == 120
    assert sorted(counts)[-2] > 0  # two workers shared the endpoint
    assert len(receiver.received) == 120 and receiver.duplicates() == 0
    assert Attempt.objects.count() == 120


def test_an_endpoint_failing_for_a_day_is_turned_off_and_managers_told(
    settings, closed_port, account, manager
):
    endpoint, _ = create_endpoint(url=f"http://127.0.0.1:{closed_port}/", event_types=["lead.qualified"])
    delivery.fan_out([message(account)])
    delivery.deliver_due(endpoint.pk)
    assert jobs.sweep_job()["disabled"] == []
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(hours=25))

    assert jobs.sweep_job()["disabled"] == [endpoint.pk]
    assert jobs.sweep_job()["disabled"] == []  # once
    endpoint.refresh_from_db()
    assert not endpoint.is_active and "connection refused" in endpoint.disabled_reason
    # The managers hear of it through the outbox, by the alerts' channels.
    [notice] = OutboxMessage.objects.filter(kind=MessageKind.ENDPOINT_DISABLED)
    assert notice.payload["endpoint_id"] == endpoint.pk
    deliver_pending()
    [email] = mail.outbox
    assert email.to == ["morgan@example.com"]
    assert f"127.0.0.1:{closed_port}" in email.subject + email.body
    assert endpoint.secret not in email.body
    # What waited is kept for when it is turned back on.
    assert Delivery.objects.get().status == DeliveryStatus.PENDING


def test_rotation_signs_with_both_secrets_for_a_while(receiver, account):
    endpoint = endpoint_for(receiver)
    old = receiver.secret
    new = rotate_secret(endpoint)
    assert new != old and new.startswith("whsec_")
    delivery.fan_out([message(account)])
    delivery.deliver_due(endpoint.pk)
    assert receiver.received[0]["verified"]  # receiver still on the old secret
    receiver.secret = new
    delivery.fan_out([message(account)])
    delivery.deliver_due(endpoint.pk)
    assert receiver.received[1]["verified"]
    assert len(receiver.received[1]["headers"]["webhook-signature"].split(" ")) == 2


def test_no_secret_in_logs_or_errors(caplog, receiver, account):
    receiver.answers = [500]
    endpoint = endpoint_for(receiver)
    delivery.fan_out([message(account)])
    with caplog.at_level(logging.DEBUG):
        deliver_until_idle(endpoint.pk)
    secret = Endpoint.objects.get().secret
    assert "HTTP 500" in caplog.text
    assert secret not in caplog.text and secret.removeprefix("whsec_") not in caplog.text
    assert not Attempt.objects.filter(error__contains=secret.removeprefix("whsec_")[:12]).exists()
    assert secret not in str(endpoint) and secret not in repr(endpoint)


def test_new_endpoints_get_only_what_happens_after_they_exist(receiver, account):
    earlier = message(account)
    endpoint_for(receiver)
    assert delivery.fan_out([earlier]) == {}


def test_old_deliveries_that_ended_are_pruned_and_pending_ones_kept(receiver, account):
    endpoint = endpoint_for(receiver)
    delivery.fan_out([message(account), message(account)])
    delivery.deliver_due(endpoint.pk)
    old = timezone.now() - timedelta(days=31)
    Delivery.objects.update(created_at=old)
    Attempt.objects.update(attempted_at=old)
    Delivery.objects.filter(pk=Delivery.objects.order_by("pk").first().pk).update(status="pending")

    assert jobs.prune_job() == 1
    assert list(Delivery.objects.values_list("status", flat=True)) == ["pending"]
    assert not Attempt.objects.exists()
