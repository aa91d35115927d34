"""Alerts against real peers on this machine: an SMTP server (aiosmtpd)
receives the rep's email, a local HTTP receiver stands in for Slack's
incoming-webhook URL and checks each post is valid Block Kit, and a Redis of
the test's own is stopped under the wake-up and the catch-up delivers."""

import json
import shutil
import subprocess
import time

import pytest
import redis
from django.db import transaction
from rq import SimpleWorker

from alerts import jobs
from alerts.delivery import deliver_pending
from leads import outbox
from leads.models import Account, DeliveryState, LeadStatus, OutboxBatch, OutboxMessage, Person
from leads.routing import assign_new_pqls
from tests.conftest import run_concurrently

from .peers import check_block_kit, free_port

pytestmark = pytest.mark.django_db


def pql(name="Harbor Legal LLP"):
    account = Account.objects.create(name=name, status=LeadStatus.PQL, country="US", industry="legal")
    Person.objects.create(account=account, name="Jo Park", title="Associate", email="jo@harbor.example")
    return account


def test_the_reps_email_reaches_a_real_smtp_server(smtp_server, make_rep, make_team):
    make_team("Sales", make_rep("ava"))
    account = pql()
    assign_new_pqls([account.pk])

    delivered = deliver_pending()

    assert delivered.emails == 1
    [(recipients, email)] = smtp_server.messages
    assert recipients == ["ava@sales.example"]
    assert email["Subject"] == "New PQL for you: Harbor Legal LLP"
    assert email["From"] == "pqlsite <alerts@pql.example>"
    body = email.get_content()
    assert f"Open the account: https://pql.example/accounts/{account.pk}/" in body
    assert "Person to contact: Jo Park, Associate <jo@harbor.example>" in body
    assert OutboxMessage.objects.get(kind="assigned").email_state == DeliveryState.SENT


def test_an_unreachable_smtp_server_is_retried_later_not_lost(smtp_server, make_rep, make_team, settings):
    make_team("Sales", make_rep("ava"))
    assign_new_pqls([pql().pk])
    listening = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nobody listens there

    assert deliver_pending().emails == 0
    message = OutboxMessage.objects.get(kind="assigned")
    assert (message.email_state, message.attempts) == (DeliveryState.PENDING, 1)
    assert message.last_error.startswith("email:")

    settings.EMAIL_PORT = listening
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=None)  # the backoff has passed
    assert deliver_pending().emails == 1
    assert len(smtp_server.messages) == 1


def test_slack_gets_valid_block_kit_with_company_tier_reasons_contact_and_link(
    smtp_server, slack, make_rep, make_team, settings
):
    make_team("Sales", make_rep("ava"), slack=slack.url)
    account = pql("Harbor <Legal> & Co")
    assign_new_pqls([account.pk])

    delivered = deliver_pending()

    assert (delivered.emails, delivered.slack) == (1, 1)
    [(path, content_type, payload)] = slack.posts
    assert path == "/services/T000/B000/secret"
    assert content_type.startswith("application/json")
    check_block_kit(payload)
    text = json.dumps(payload["blocks"])
    assert "Harbor &lt;Legal&gt; &amp; Co" in text  # data, never Slack markup
    assert "*Tier*" in text
    assert "Jo Park, Associate" in text and "mailto:jo@harbor.example" in text
    [button] = payload["blocks"][-1]["elements"]
    assert button["url"] == f"https://pql.example/accounts/{account.pk}/"


def test_slack_answering_500_is_retried_and_the_email_is_not_sent_twice(
    smtp_server, slack, make_rep, make_team
):
    make_team("Sales", make_rep("ava"), slack=slack.url)
    assign_new_pqls([pql().pk])
    slack.answers = [500]

    deliver_pending()
    message = OutboxMessage.objects.get(kind="assigned")
    assert (message.email_state, message.slack_state) == (DeliveryState.SENT, DeliveryState.PENDING)
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=None)
    deliver_pending()

    assert len(slack.posts) == 2 and len(smtp_server.messages) == 1
    message.refresh_from_db()
    assert message.slack_state == DeliveryState.SENT


def test_managers_escalations_reach_slack_as_block_kit(smtp_server, slack, make_rep, make_team, sales_manager):
    make_team("Sales", make_rep("ava", capacity=0), slack=slack.url)
    assign_new_pqls([pql().pk])

    deliver_pending()

    [(_, _, payload)] = slack.posts
    check_block_kit(payload)
    assert payload["text"] == "Nobody has room for Harbor Legal LLP"
    assert "Team 'Sales' is at capacity" in json.dumps(payload["blocks"])
    [(recipients, _)] = smtp_server.messages
    assert recipients == ["mia@sales.example"]


# Redis stopped under the wake-up: the change commits, the message waits in
# the table, and the periodic pass delivers it once Redis is back.


class OwnRedis:
    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def own_redis(settings):
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    server = OwnRedis()
    server.start()
    settings.RQ_QUEUES = {name: {**c, "URL": server.url, "ASYNC": True} for name, c in settings.RQ_QUEUES.items()}
    jobs.breaker.reset()
    yield server
    server.stop()
    jobs.breaker.reset()


def run_worker(url: str) -> None:
    """Run what is queued on the alerts queue, in this process, as a worker would."""
    connection = redis.Redis.from_url(url)
    SimpleWorker([jobs.QUEUE], connection=connection).work(burst=True)


@pytest.mark.django_db(transaction=True)
def test_nothing_is_lost_while_redis_is_down_and_the_catch_up_delivers(
    smtp_server, own_redis, make_rep, make_team
):
    make_team("Sales", make_rep("ava"))
    first = pql("First Co")
    with transaction.atomic():
        assign_new_pqls([first.pk])  # Redis up: the wake-up enqueues a delivery
    run_worker(own_redis.url)
    assert [m["Subject"] for _, m in smtp_server.messages] == ["New PQL for you: First Co"]

    own_redis.stop()
    second = pql("Second Co")
    with transaction.atomic():
        assign_new_pqls([second.pk])  # the wake-up fails after commit; nothing raises

    assert Account.objects.get(pk=second.pk).status == LeadStatus.ASSIGNED
    assert OutboxMessage.objects.get(account=second, kind="assigned").email_state == DeliveryState.PENDING
    assert not jobs.breaker.closed

    own_redis.start()  # back, empty: the lost wake-up is nowhere in it
    jobs.alerts_queue().enqueue(jobs.deliver_pending_job)  # what the scheduler does every minute
    run_worker(own_redis.url)

    assert [m["Subject"] for _, m in smtp_server.messages] == [
        "New PQL for you: First Co",
        "New PQL for you: Second Co",
    ]
    assert not OutboxMessage.objects.filter(email_state=DeliveryState.PENDING).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_large_change_written_as_a_batch_while_redis_is_down_reaches_the_reps_after_the_catch_up(
    smtp_server, own_redis, make_rep, make_team, monkeypatch
):
    monkeypatch.setattr(outbox, "BATCH_FROM", 3)  # as a rescore's hundreds would
    make_team("Sales", make_rep("ava", capacity=100))
    accounts = [pql(f"Co {i}") for i in range(3)]
    own_redis.stop()
    with transaction.atomic():
        assign_new_pqls([account.pk for account in accounts])
    assert OutboxBatch.objects.count() == 1 and not OutboxMessage.objects.exists()

    own_redis.start()
    jobs.alerts_queue().enqueue(jobs.deliver_pending_job)  # the scheduler's pass
    run_worker(own_redis.url)

    assert sorted(m["Subject"] for _, m in smtp_server.messages) == [f"New PQL for you: Co {i}" for i in range(3)]
    assert not OutboxBatch.objects.exists()
    assert not OutboxMessage.objects.filter(email_state=DeliveryState.PENDING).exists()


@pytest.mark.django_db(transaction=True)
def test_two_delivery_workers_at_once_send_each_alert_once(smtp_server, make_rep, make_team):
    make_team("Sales", make_rep("ava", capacity=100), make_rep("ben", capacity=100))
    accounts = [pql(f"Co {i}") for i in range(30)]
    assign_new_pqls([a.pk for a in accounts])

    run_concurrently(deliver_pending, times=3)

    subjects = sorted(m["Subject"] for _, m in smtp_server.messages)
    assert subjects == sorted(f"New PQL for you: Co {i}" for i in range(30))

