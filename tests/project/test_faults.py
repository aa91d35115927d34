"""Faults: Redis unreachable, a worker killed mid-job, the database dropping
the connection mid-batch. No event is lost, no result is half-written, and
every account is rescored in the end."""

import base64
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import close_old_connections, connection
from rest_framework.test import APIClient
from rq import SimpleWorker
from rq.registry import StartedJobRegistry

from leads.models import Account, Event, LeadStatus, StatusChange
from scoring import backlog, jobs
from scoring.definitions import create_definition
from scoring.models import AccountScore, PendingRescore, ScoringRun

pytestmark = pytest.mark.django_db

CLOSED_PORT = "redis://127.0.0.1:9/0"
AT = "2026-03-01T12:00:00Z"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def redis_down(settings):
    """REDIS_URL at a closed port: for the queues and for the cache the throttles use."""
    settings.RQ_QUEUES = {
        name: {**config, "URL": CLOSED_PORT, "ASYNC": True} for name, config in settings.RQ_QUEUES.items()
    }
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CLOSED_PORT,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def redis_back(settings):
    """Redis answers again (jobs inline here), and the breaker lets calls through."""
    settings.RQ_QUEUES = {name: {**config, "ASYNC": False} for name, config in settings.RQ_QUEUES.items()}
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    jobs.breaker.reset()


def send(client, *messages, key):
    body = json.dumps({"batch": list(messages), "sentAt": AT}).encode()
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    return client.post("/v1/batch", body, content_type="application/json", HTTP_AUTHORIZATION=auth)


def signup(user="u1", group_id="acct_harbor"):
    return [
        {"type": "identify", "messageId": f"identify-{user}", "userId": user, "timestamp": AT,
         "traits": {"email": f"{user}@harborlegal.com"}},
        {"type": "group", "messageId": f"group-{user}", "userId": user, "groupId": group_id,
         "timestamp": AT, "traits": {"name": "Harbor Legal LLP", "employees": 45}},
    ]


def logins(first, last, user="u1"):
    return [
        {"type": "track", "messageId": f"login-{user}-{n}", "userId": user, "event": "login", "timestamp": AT}
        for n in range(first, last)
    ]


# --- Redis down ---------------------------------------------------------------


def test_with_redis_down_ingestion_stores_every_event_and_the_catch_up_pass_rescores(
    client, source, ten_logins, manager, redis_down, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = send(client, *signup(), *logins(0, 6), key=source.write_key)
        second = send(client, *logins(6, 12), key=source.write_key)

    assert (first.status_code, second.status_code) == (200, 200)
    account = Account.objects.get(external_id="acct_harbor")
    assert Event.objects.filter(account=account).count() == 12
    assert list(PendingRescore.objects.values_list("account_id", "reason")) == [
        (account.pk, backlog.QUEUE_UNREACHABLE)
    ]
    assert account.status == LeadStatus.SIGNED_UP  # not rescored yet
    # Reading the API does not need Redis either: the throttles let it through.
    api = APIClient()
    api.force_authenticate(manager)
    assert api.get("/api/accounts/").status_code == 200

    redis_back(settings)
    settings.SCORING_CATCH_UP_GRACE = 0
    assert jobs.catch_up_job() == {"accounts": 1, "full_rescore": False}

    account.refresh_from_db()
    assert account.status == LeadStatus.PQL
    assert not PendingRescore.objects.exists()
    assert jobs.catch_up_job() == {"accounts": 0, "full_rescore": False}


def test_while_redis_is_down_batches_do_not_wait_for_it(account, redis_down, monkeypatch, settings):
    jobs.enqueue_rescore([account.pk])  # fails and trips the breaker

    def must_not_be_called():
        raise AssertionError("tried Redis while it is known to be down")

    monkeypatch.setattr(jobs, "scoring_queue", must_not_be_called)
    other = Account.objects.create(name="Other", external_id="acct_other")
    assert jobs.enqueue_rescore([other.pk]) == []
    assert set(PendingRescore.objects.values_list("account_id", flat=True)) == {account.pk, other.pk}

    # SCORING_QUEUE_RETRY_AFTER (5 s) later, Redis is tried again.
    monkeypatch.undo()
    settings.RQ_QUEUES = {name: {**config, "ASYNC": False} for name, config in settings.RQ_QUEUES.items()}
    now = time.monotonic()
    monkeypatch.setattr(jobs.breaker, "clock", lambda: now + 4)
    assert jobs.enqueue_rescore([other.pk]) == []
    monkeypatch.setattr(jobs.breaker, "clock", lambda: now + 6)
    assert jobs.enqueue_rescore([other.pk]) == [other.pk]


def test_a_definition_saved_while_redis_is_down_gets_its_full_rescore_on_catch_up(
    book, redis_down, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        create_definition(
            name="Ten logins", is_active=True, score_threshold=100,
            criteria=[dict(label="Logged in 10 times", role="trigger", event_name="login", value="10")],
        )
    assert not ScoringRun.objects.exists()

    redis_back(settings)
    settings.SCORING_CATCH_UP_GRACE = 0
    assert backlog.catch_up() == backlog.CaughtUp(full_rescore=True)
    assert AccountScore.objects.count() == book.count()
    assert ScoringRun.objects.get().reason.startswith("catch-up")
    assert backlog.catch_up() == backlog.CaughtUp()


def test_a_job_lost_just_before_redis_failed_does_not_keep_new_events_waiting(
    redis_queues, ten_logins, account, settings, make_event
):
    # The accounts were added and the flag taken, then enqueueing the job failed.
    redis_queues.zadd(jobs.ROUTINE, {account.pk: time.time()})
    redis_queues.set(jobs.DRAIN_QUEUED, "a-job-that-never-reached-the-queue")
    jobs.enqueue_rescore([account.pk])
    queue = jobs.scoring_queue()
    assert queue.count == 0  # the flag still says a job waits

    for _ in range(10):
        make_event("login")
    jobs.catch_up_job()
    assert queue.count == 1
    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    account.refresh_from_db()
    assert account.status == LeadStatus.PQL
    assert redis_queues.zcard(jobs.ROUTINE) == 0


def test_the_catch_up_pass_leaves_running_jobs_their_grace_time(account, settings):
    backlog.hold([account.pk], reason=backlog.JOB_RUNNING)
    settings.SCORING_CATCH_UP_GRACE = 180
    assert backlog.catch_up() == backlog.CaughtUp()
    assert PendingRescore.objects.exists()
    assert backlog.catch_up(grace=timedelta(0)).accounts == 1
    assert not PendingRescore.objects.exists()


def test_the_rescore_command_catches_up_at_once(account, ten_logins, make_event):
    from io import StringIO

    from django.core.management import call_command

    for _ in range(10):
        make_event("login")
    backlog.hold([account.pk], reason=backlog.QUEUE_UNREACHABLE)
    out = StringIO()
    call_command("rescore", "--catch-up", stdout=out)
    assert out.getvalue().strip() == "accounts=1 full_rescore=False"
    account.refresh_from_db()
    assert account.status == LeadStatus.PQL


# --- a worker killed mid-job -----------------------------------------------------


def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("drives PostgreSQL locks and backends")


def other_connection():
    """A second PostgreSQL session, outside Django's, as another process would have."""
    import psycopg

    options = connection.settings_dict
    return psycopg.connect(
        host=options["HOST"] or None, port=options["PORT"] or None, user=options["USER"],
        password=options["PASSWORD"] or None, dbname=options["NAME"], autocommit=True,
    )


@contextmanager
def table_locked_against_writes(table: str):
    with other_connection() as holder:
        holder.execute("BEGIN")
        holder.execute(f"LOCK TABLE {table} IN SHARE MODE")
        yield
        holder.execute("COMMIT")


def wait_for(condition, *, seconds=30.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition.__doc__ or condition}")
        time.sleep(0.05)


def backends_waiting_on_a_lock() -> int:
    """Sessions of this database blocked on a lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def start_worker(redis_url: str) -> subprocess.Popen:
    """`manage.py rqworker` in its own process, on this test's database and Redis."""
    options = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{options['USER']}@{options['HOST'] or '127.0.0.1'}:"
        f"{options['PORT'] or 5432}/{options['NAME']}",
        "REDIS_URL": redis_url,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "scoring", "--burst", "--worker-class", "rq.SimpleWorker"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_job_leaves_nothing_half_written_and_the_account_is_rescored(
    redis_queues, ten_logins, account, make_event, settings
):
    postgres_only()
    for _ in range(10):
        make_event("login")
    jobs.enqueue_rescore([account.pk])
    queue = jobs.scoring_queue()
    [job_id] = queue.job_ids

    # The job blocks on its last write (the status history), its score and the
    # account's new status already written in its transaction; then it dies.
    with table_locked_against_writes(StatusChange._meta.db_table):
        worker = start_worker(settings.RQ_QUEUES["scoring"]["URL"])
        wait_for(lambda: backends_waiting_on_a_lock() == 1)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

    account.refresh_from_db()
    assert account.status == LeadStatus.SIGNED_UP
    assert not AccountScore.objects.filter(account=account).exists()
    assert not StatusChange.objects.exists()
    assert list(PendingRescore.objects.values_list("account_id", "reason")) == [
        (account.pk, backlog.JOB_RUNNING)
    ]

    # RQ hands the abandoned job back for a retry once its heartbeat expires
    # (the job's timeout and a minute: here, a day later)...
    registry = StartedJobRegistry(queue=queue)
    assert job_id in registry.get_job_ids(cleanup=False)
    registry.cleanup(timestamp=time.time() + 24 * 3600)
    assert job_id in queue.scheduled_job_registry

    # ...and the catch-up pass rescores the held account.
    settings.SCORING_CATCH_UP_GRACE = 0
    assert jobs.catch_up_job() == {"accounts": 1, "full_rescore": False}
    account.refresh_from_db()
    assert account.status == LeadStatus.PQL
    assert not PendingRescore.objects.exists()

    # The retried job, when it runs, changes nothing more: one transition, once.
    jobs.rescore_accounts_job([account.pk])
    assert list(StatusChange.objects.values_list("from_status", "to_status")) == [
        (LeadStatus.SIGNED_UP, LeadStatus.PQL)
    ]


# --- the database dropping the connection --------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_connection_dropped_mid_batch_is_a_503_and_the_resend_stores_each_event_once(
    client, source, inline_queues, monkeypatch
):
    postgres_only()
    from leads import services

    keep_going = services.store_events_in_postgresql
    drops = []

    def drop_the_connection_first(batch):
        if not drops:
            drops.append(connection.connection.info.backend_pid)
            with other_connection() as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [drops[0]])
        return keep_going(batch)

    # The people are written by then: the drop comes in the middle of the batch.
    monkeypatch.setattr(services, "store_events_in_postgresql", drop_the_connection_first)
    messages = [*signup(), *logins(0, 5)]

    dropped = send(client, *messages, key=source.write_key)
    assert dropped.status_code == 503
    assert dropped["Retry-After"] == "5"
    assert dropped.json()["code"] == "unavailable"
    close_old_connections()  # what the server does after each request
    assert (Account.objects.count(), Event.objects.count()) == (0, 0)

    for _ in range(2):  # the SDK resends; a second resend after a lost response
        assert send(client, *messages, key=source.write_key).status_code == 200
    assert Event.objects.count() == 5
    assert Account.objects.get().external_id == "acct_harbor"


def test_a_batch_that_deadlocks_with_another_is_stored_again_not_refused(
    client, source, inline_queues, monkeypatch
):
    import psycopg
    from django.db import OperationalError

    from leads.ingest import views

    store = views.ingest_messages
    attempts = []

    def deadlock_once(**kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise OperationalError("deadlock detected") from psycopg.errors.DeadlockDetected()
        return store(**kwargs)

    monkeypatch.setattr(views, "ingest_messages", deadlock_once)
    assert send(client, *signup(), *logins(0, 3), key=source.write_key).status_code == 200
    assert len(attempts) == 2
    assert Event.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_with_the_database_unreachable_ingestion_answers_503_and_the_resend_is_stored(
    client, source, inline_queues
):
    postgres_only()
    messages = [*signup(), *logins(0, 3)]
    reachable = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there
    try:
        refused = send(client, *messages, key=source.write_key)
    finally:
        connection.close()
        connection.settings_dict["PORT"] = reachable

    assert refused.status_code == 503
    assert refused.json()["code"] == "unavailable"
    assert send(client, *messages, key=source.write_key).status_code == 200
    assert Event.objects.count() == 3
