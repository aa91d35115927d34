"""Freshness you can see: /health/ for monitors, and the worker surviving a
Redis outage under `manage.py scoring_worker`."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rq import Worker
from rq.utils import utcformat

from leads.models import Account, Event, LeadStatus, StatusChange
from scoring import jobs
from scoring.models import AccountScore, PendingRescore

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def live_worker(redis_queues):
    """A worker registered on the scoring queue with a fresh heartbeat (as
    `rqworker` registers itself), without running one."""
    worker = Worker([jobs.scoring_queue()], connection=redis_queues, name="health-test")
    worker.register_birth()
    worker.heartbeat()
    yield worker
    worker.register_death()


def test_health_is_ok_with_a_live_worker_and_nothing_waiting(client, live_worker):
    response = client.get(reverse("health"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert body["database"] == {"ok": True}
    assert body["redis"] == {"ok": True}
    assert body["workers"] == {"ok": True, "alive": 1}
    assert body["scoring"]["waiting"] == 0 and body["scoring"]["lag_s"] == 0


def test_health_fails_when_no_worker_is_alive(client, redis_queues):
    response = client.get(reverse("health"))
    assert response.status_code == 503
    assert response.json()["failing"] == ["workers"]


def test_health_fails_when_the_only_worker_stopped_beating(client, live_worker, settings):
    settings.SCORING_WORKER_STALE_SECONDS = 120
    live_worker.connection.hset(
        live_worker.key, "last_heartbeat", utcformat(timezone.now() - timedelta(minutes=5))
    )
    assert client.get(reverse("health")).status_code == 503


def test_health_fails_when_the_lag_is_over_its_limit(client, live_worker, redis_queues, settings):
    settings.SCORING_LAG_LIMIT = 60
    account = Account.objects.create(name="Waiting")
    redis_queues.zadd(jobs.ROUTINE, {account.pk: time.time() - 61})
    response = client.get(reverse("health"))
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["scoring"]
    assert body["scoring"]["waiting"] == 1 and body["scoring"]["lag_s"] >= 61

    settings.SCORING_LAG_LIMIT = 120
    assert client.get(reverse("health")).status_code == 200


def test_health_counts_results_overdue_by_time_and_accounts_held_in_the_database(
    client, live_worker, settings
):
    settings.SCORING_LAG_LIMIT = 60
    account = Account.objects.create(name="Due")
    AccountScore.objects.create(
        account=account, digest="x", computed_at=timezone.now(),
        next_change_at=timezone.now() - timedelta(minutes=5),
    )
    body = client.get(reverse("health")).json()
    assert body["scoring"]["due_by_time"] == 1
    assert body["failing"] == ["scoring"]

    AccountScore.objects.update(next_change_at=None)
    PendingRescore.objects.create(account=account, requested_at=timezone.now(), reason="queue unreachable")
    body = client.get(reverse("health")).json()
    assert body["scoring"]["held_in_database"] == 1 and body["status"] == "ok"


def test_health_fails_when_redis_is_unreachable(client, settings):
    settings.RQ_QUEUES = {
        name: {**config, "URL": "redis://127.0.0.1:9/0", "ASYNC": True}
        for name, config in settings.RQ_QUEUES.items()
    }
    response = client.get(reverse("health"))
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis", "workers"]


def test_the_team_page_and_the_admin_show_how_far_behind_scoring_is(
    client, manager, live_worker, redis_queues
):
    redis_queues.zadd(jobs.URGENT, {"1": time.time() - 3})
    redis_queues.zadd(jobs.ROUTINE, {"2": time.time() - 5, "3": time.time()})
    client.force_login(manager)
    for url in (reverse("team"), reverse("admin:index")):
        page = client.get(url).content.decode()
        assert "Scoring freshness" in page
        assert "3 (1 hand-raise)" in page
        assert "Workers alive</dt><dd>1" in page
        assert "Last full rescore</dt><dd>never" in page


# --- the worker survives a Redis outage ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.05)
    raise AssertionError("redis-server did not start")


def wait_for(condition, *, seconds: float):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition.__doc__}")
        time.sleep(0.2)


@contextmanager
def statuschanges_locked():
    """Another session holds the status history against writes: a job
    reaching its last write waits there, mid-work."""
    import psycopg

    options = connection.settings_dict
    with psycopg.connect(
        host=options["HOST"] or None, port=options["PORT"] or None, user=options["USER"],
        password=options["PASSWORD"] or None, dbname=options["NAME"], autocommit=True,
    ) as holder:
        holder.execute("BEGIN")
        holder.execute(f"LOCK TABLE {StatusChange._meta.db_table} IN SHARE MODE")
        yield
        holder.execute("COMMIT")


def waiting_on_a_lock() -> bool:
    """a job waits on the status history's lock"""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] == 1


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_scoring_resumes_without_a_person_after_redis_stops_under_a_working_worker(
    settings, ten_logins, tmp_path
):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    redis_server = start_redis(port)
    settings.RQ_QUEUES = {
        name: {**config, "URL": url, "ASYNC": True} for name, config in settings.RQ_QUEUES.items()
    }
    options = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{options['USER']}@{options['HOST'] or '127.0.0.1'}:"
        f"{options['PORT'] or 5432}/{options['NAME']}",
        "REDIS_URL": url,
    }
    log = (tmp_path / "supervisor.log").open("w")
    supervisor = subprocess.Popen(
        [sys.executable, "manage.py", "scoring_worker", "scoring", "--max-backoff", "2"],
        cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=log,
    )

    def qualify(name):
        account = Account.objects.create(name=name)
        Event.objects.bulk_create(
            Event(account=account, name="login", occurred_at=timezone.now(), properties={})
            for _ in range(10)
        )
        jobs.breaker.reset()
        jobs.enqueue_rescore([account.pk])
        return account

    def pql(account):
        return lambda: Account.objects.get(pk=account.pk).status == LeadStatus.PQL

    try:
        first = qualify("Before")
        wait_for(pql(first), seconds=60)

        # A job mid-work (blocked on its last write) when Redis stops.
        with statuschanges_locked():
            during = qualify("During")
            wait_for(waiting_on_a_lock, seconds=30)
            redis_server.terminate()
            redis_server.wait(timeout=10)
        time.sleep(3)
        redis_server = start_redis(port)

        after = qualify("After")
        wait_for(pql(after), seconds=90)
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGTERM)
            try:
                supervisor.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(supervisor.pid, signal.SIGKILL)
        redis_server.terminate()
        redis_server.wait(timeout=10)
        log.close()
    # The job caught mid-work committed its scoring before it lost Redis.
    assert Account.objects.get(pk=during.pk).status == LeadStatus.PQL
    assert "restarting in" in (tmp_path / "supervisor.log").read_text()
