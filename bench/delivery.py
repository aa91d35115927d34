"""Benchmark: speed to lead through webhooks. gunicorn, RQ workers and a
local webhook receiver that verifies every signature (standardwebhooks).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/delivery.py --hand-raises 100 --burst 10000

1. Hand-raises: fresh accounts (identified and grouped through the API, not
   timed) each send one contact_sales_clicked through POST /v1/batch, one
   after another; each is timed from the ingest's 200 to the receiver
   getting that account's lead.qualified webhook.
2. Burst: --burst accounts with one login each (written directly, then
   scored, not timed); activating a definition that makes a login qualify
   qualifies them all in one full rescore. Timed from the change to the
   last webhook; every webhook must arrive exactly once (by webhook-id).
3. Outbox overhead: with the workers stopped, the same full rescore that
   qualifies the burst accounts, in this process, with the outbox writes
   and without them (the status writer's notices dropped and every other
   announcement made a no-op), best of --repeat (5) each, taken in
   alternating order, each right after a checkpoint. The rescore writes
   its thousands of messages as batches (leads.outbox); the time the first
   delivery pass then takes to unfold them is printed beside it.

It creates a fresh database (<name>_delivery_bench), migrates it and drops
it at the end (--keep keeps it). Jobs go to the Redis database of REDIS_URL
(--redis-db overrides it), flushed before and after.

Last line: deliveries=N duplicates=D lost=L p50_ms=A p95_ms=B burst=K burst_s=S rescore_overhead_pct=P
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from database import percentile  # noqa: E402
from services import (  # noqa: E402
    analyze,
    basic_auth,
    database_url,
    drop_database,
    flush_redis,
    free_port,
    post,
    set_up_django,
    start_gunicorn,
    stop,
    wait_for,
)


class Receiver:
    """A webhook receiver in a thread: verifies each signature, notes when
    each webhook-id first arrived and how often it came."""

    def __init__(self):
        from standardwebhooks import Webhook

        self.secret = None
        self.arrived: dict[str, float] = {}  # webhook-id -> first arrival (perf_counter)
        self.by_account: dict[tuple[str, str], str] = {}  # (type, external id) -> webhook-id
        self.counts: Counter = Counter()
        self.unverified = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                at = time.perf_counter()
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    event = Webhook(receiver.secret).verify(body, dict(self.headers))
                except Exception:
                    with receiver.lock:
                        receiver.unverified += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.counts[event["id"]] += 1
                    receiver.arrived.setdefault(event["id"], at)
                    account = event["data"]["account"] or {}
                    receiver.by_account[(event["type"], account.get("external_id"))] = event["id"]
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def arrival(self, kind: str, external_id: str) -> float | None:
        with self.lock:
            message_id = self.by_account.get((kind, external_id))
            return self.arrived.get(message_id) if message_id else None

    def wait_for(self, kind: str, external_id: str, *, seconds: float) -> float | None:
        wait_until(lambda: self.arrival(kind, external_id) is not None, seconds=seconds)
        return self.arrival(kind, external_id)

    def count_for(self, prefix: str) -> int:
        with self.lock:
            return sum(1 for (_, external_id) in self.by_account if (external_id or "").startswith(prefix))

    def last_arrival(self, prefix: str) -> float:
        with self.lock:
            return max(
                self.arrived[message_id]
                for (_, external_id), message_id in self.by_account.items()
                if (external_id or "").startswith(prefix)
            )

    def duplicates(self) -> int:
        with self.lock:
            return sum(count - 1 for count in self.counts.values())


def start_workers(
    *, database: str, redis_url: str, queues: list[str], count: int, options: tuple = ()
) -> list[subprocess.Popen]:
    env = {**os.environ, "DATABASE_URL": database_url(database), "REDIS_URL": redis_url}
    return [
        subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [sys.executable, "manage.py", "rqworker", *queues, *options, "--verbosity", "0"],
            cwd=ROOT, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def wait_until(condition, *, seconds: float, step: float = 0.005) -> bool:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def identify_and_group(port: int, auth: str, name: str) -> None:
    now = datetime.now(UTC).isoformat()
    batch = [
        {"type": "identify", "messageId": f"identify-{name}", "userId": f"user-{name}", "timestamp": now,
         "traits": {"email": f"{name}@example.com", "name": f"Person {name}", "title": "Operations"}},
        {"type": "group", "messageId": f"group-{name}", "userId": f"user-{name}", "groupId": name,
         "timestamp": now, "traits": {"name": f"Company {name}", "employees": 40}},
    ]
    status = post(port, auth, json.dumps({"batch": batch, "sentAt": now}).encode())
    if status != 200:
        sys.exit(f"setting up {name} failed with HTTP {status}")


def hand_raise(port: int, auth: str, name: str) -> int:
    now = datetime.now(UTC).isoformat()
    batch = [{"type": "track", "messageId": f"raise-{name}", "userId": f"user-{name}",
              "event": "contact_sales_clicked", "timestamp": now, "properties": {}}]
    return post(port, auth, json.dumps({"batch": batch, "sentAt": now}).encode())


def create_burst_accounts(count: int) -> list[int]:
    """Accounts with one login each, written directly (not timed)."""
    from django.utils import timezone

    from leads.models import Account, Event

    now = timezone.now()
    accounts = Account.objects.bulk_create(
        [Account(name=f"Burst {i}", domain=f"burst-{i}.example.com", external_id=f"burst-{i}",
                 employee_count=20, signed_up_at=now - timedelta(days=3)) for i in range(count)],
        batch_size=5000,
    )
    Event.objects.bulk_create(
        [Event(account=account, name="login", occurred_at=now - timedelta(days=1), source="bench",
               message_id=f"burst-login-{account.pk}") for account in accounts],
        batch_size=5000,
    )
    return [account.pk for account in accounts]


def reset_burst(account_ids: list[int]) -> None:
    """Back to signed up and unscored, and no messages: the same rescore again."""
    from django.db import connection

    from leads.models import Account, LeadStatus, OutboxMessage, StatusChange
    from leads.webhooks.models import Delivery
    from scoring.models import AccountScore

    Delivery.objects.all().delete()
    OutboxMessage.objects.all().delete()
    StatusChange.objects.filter(account_id__in=account_ids).delete()
    AccountScore.objects.filter(account_id__in=account_ids).delete()
    Account.objects.filter(pk__in=account_ids).update(
        status=LeadStatus.SIGNED_UP, owner=None, assigned_at=None, sla_due_at=None
    )
    with connection.cursor() as cursor:
        for table in ("leads_outboxmessage", "leads_statuschange", "scoring_accountscore", "leads_account"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        # Each rescore starts right after a checkpoint: none falls inside one
        # run and not another, and each writes its pages' first images alike.
        cursor.execute("CHECKPOINT")


def timed_rescore(*, with_outbox: bool) -> float:
    """A full rescore, timed; without the outbox, every message write is left
    out: the status writer's notices and the separate announcements."""
    import dataclasses

    import leads.outbox
    import leads.services
    from scoring.rescoring import rescore_all

    patched = []

    def patch(module, name, replacement):
        patched.append((module, name, getattr(module, name)))
        setattr(module, name, replacement)

    if not with_outbox:
        in_one_statement = leads.services.record_transitions_in_one_statement
        patch(leads.services, "record_transitions_in_one_statement", lambda transitions, **options: in_one_statement(
            [dataclasses.replace(t, notice=None) for t in transitions], **options))
        patch(leads.services, "announce_unchanged", lambda *args, **options: None)
        patch(leads.services, "wake_channels", lambda: None)
        patch(leads.services, "announce", lambda announcements, **options: 0)
        patch(leads.outbox, "announce", lambda announcements, **options: 0)
    try:
        started = time.perf_counter()
        rescore_all(reason="benchmark")
        return time.perf_counter() - started
    finally:
        for module, name, original in patched:
            setattr(module, name, original)


def hand_raise_stages() -> str:
    """Where a hand-raise's time goes (p50 of each stage, ms), from the rows' own times."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT extract(epoch FROM sc.changed_at - e.received_at) * 1000,
                   extract(epoch FROM d.created_at - sc.changed_at) * 1000,
                   extract(epoch FROM t.attempted_at - d.created_at) * 1000,
                   t.duration_ms
            FROM leads_account a
            JOIN leads_event e ON e.account_id = a.id AND e.name = 'contact_sales_clicked'
            JOIN leads_statuschange sc ON sc.account_id = a.id AND sc.to_status = 'pql'
                 AND sc.from_status = 'signed_up'
            JOIN webhooks_delivery d ON d.account_id = a.id AND d.event_type = 'lead.qualified'
            JOIN webhooks_attempt t ON t.delivery_id = d.id
            WHERE a.external_id LIKE 'raise-%%'
            """
        )
        rows = cursor.fetchall()
    if not rows:
        return "no hand-raise rows"
    names = ("event_to_pql", "pql_to_fanned_out", "fanned_out_to_sent", "send")
    return " ".join(
        f"{name}={percentile([float(row[i]) for row in rows], 0.5):.0f}" for i, name in enumerate(names)
    )


def burst_stages(started_at: datetime) -> str:
    """When the burst was qualified, fanned out and sent (s after the change)."""
    from django.db.models import Avg, Max, Min

    from leads.models import StatusChange
    from leads.webhooks.models import Attempt, Delivery

    def after(moment) -> str:
        return f"{(moment - started_at).total_seconds():.1f}" if moment else "-"

    qualified = StatusChange.objects.filter(account__external_id__startswith="burst-", to_status="pql")
    deliveries = Delivery.objects.filter(account__external_id__startswith="burst-")
    attempts = Attempt.objects.filter(delivery__in=deliveries)
    q, d, a = (
        qualified.aggregate(first=Min("changed_at"), last=Max("changed_at")),
        deliveries.aggregate(first=Min("created_at"), last=Max("created_at")),
        attempts.aggregate(first=Min("attempted_at"), last=Max("attempted_at"), send=Avg("duration_ms")),
    )
    return (
        f"qualified {after(q['first'])}-{after(q['last'])} fanned_out {after(d['first'])}-{after(d['last'])} "
        f"sent {after(a['first'])}-{after(a['last'])} send_ms_avg={a['send'] or 0:.1f}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hand-raises", type=int, default=100)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--webhook-workers", type=int, default=2, help="workers on the webhooks queue")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between hand-raises")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the burst")
    parser.add_argument("--repeat", type=int, default=5, help="rescores with and without the outbox")
    parser.add_argument("--redis-db", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    os.environ["WEBHOOKS_ALLOW_PRIVATE_TARGETS"] = "true"  # the receiver is on 127.0.0.1
    os.environ.setdefault("SITE_URL", "http://127.0.0.1:8000")
    os.environ["LOG_LEVEL"] = "WARNING"
    redis_db = args.redis_db
    if redis_db is None:
        tail = (os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0").rsplit("/", 1)[-1]
        redis_db = int(tail) if tail.isdigit() else 0
    server, database, redis_url = set_up_django(suffix="delivery_bench", redis_db=redis_db)

    from leads.models import Source
    from leads.webhooks.endpoints import create_endpoint
    from scoring.definitions import activate, create_definition

    criteria = [dict(label="Asked for sales", role="trigger", event_name="contact_sales_clicked",
                     operator="gte", value="1")]
    hand_raised = create_definition(name="Hand-raise", is_active=False, score_threshold=1000, criteria=criteria)
    any_login = create_definition(
        name="Hand-raise or any login", is_active=False, score_threshold=1000,
        criteria=[*criteria, dict(label="Logged in", role="trigger", event_name="login", operator="gte",
                                  value="1")],
    )
    activate(hand_raised)
    source = Source.objects.create(name="Benchmark", slug="bench")
    receiver = Receiver()
    _, receiver.secret = create_endpoint(url=receiver.url, event_types=["lead.qualified"],
                                                description="benchmark receiver")
    burst_ids = create_burst_accounts(args.burst)
    from scoring.rescoring import rescore_all

    rescore_all(reason="benchmark set-up")  # scored, none qualifies yet
    analyze(server, database)

    port = free_port()
    processes = [start_gunicorn(port=port, workers=args.gunicorn_workers, database=database, redis_url=redis_url)]
    processes += start_workers(database=database, redis_url=redis_url, queues=["scoring", "default"],
                               count=1, options=("--with-scheduler",))
    # As docs/operations.md runs them: the webhooks queue on SimpleWorkers (no fork per job).
    processes += start_workers(database=database, redis_url=redis_url, queues=["webhooks"],
                               count=args.webhook_workers,
                               options=("--worker-class", "rq.worker.SimpleWorker"))
    latencies, lost = [], 0
    try:
        wait_for(port)
        time.sleep(2)  # the workers' start-up
        auth = basic_auth(source.write_key)
        for i in range(args.hand_raises):
            name = f"raise-{i}"
            identify_and_group(port, auth, name)
            time.sleep(args.pause)
            status = hand_raise(port, auth, name)
            answered = time.perf_counter()
            if status != 200:
                sys.exit(f"hand-raise {i} got HTTP {status}")
            arrived = receiver.wait_for("lead.qualified", name, seconds=30)
            if arrived is not None:
                latencies.append((arrived - answered) * 1000)
            else:
                lost += 1
        print(f"hand-raises: p50={percentile(latencies, 0.5):.0f} ms p95={percentile(latencies, 0.95):.0f} ms "
              f"max={max(latencies, default=0):.0f} ms lost={lost}", file=sys.stderr)

        started, started_at = time.perf_counter(), datetime.now(UTC)
        activate(any_login)
        wait_until(lambda: receiver.count_for("burst-") >= args.burst, seconds=args.timeout, step=0.05)
        burst_received = receiver.count_for("burst-")
        burst_s = (receiver.last_arrival("burst-") - started) if burst_received else float("nan")
        lost += args.burst - burst_received
        time.sleep(2)  # late duplicates, if any, would arrive now
        duplicates = receiver.duplicates()
        print(f"burst: {burst_received}/{args.burst} in {burst_s:.1f} s, duplicates={duplicates} "
              f"unverified={receiver.unverified}", file=sys.stderr)
    finally:
        for process in processes:
            stop(process)

    print(f"hand-raise stages, p50 ms: {hand_raise_stages()}", file=sys.stderr)
    print(f"burst stages, s after the change: {burst_stages(started_at)}", file=sys.stderr)
    flush_redis(redis_url)
    from leads.outbox import unfold_batches

    without, with_outbox, unfolding = [], [], []
    for round_ in range(args.repeat):
        # Alternate which goes first, so neither always runs on a colder cache.
        for outbox in (False, True) if round_ % 2 == 0 else (True, False):
            reset_burst(burst_ids)
            (with_outbox if outbox else without).append(timed_rescore(with_outbox=outbox))
            if outbox:
                # What the rescore left to delivery: its batches, unfolded
                # into messages by the first delivery pass after commit.
                started = time.perf_counter()
                unfolded = unfold_batches()
                unfolding.append(time.perf_counter() - started)
    overhead = (min(with_outbox) - min(without)) / min(without) * 100
    print(f"full rescore qualifying {args.burst}: without outbox {min(without):.2f} s, "
          f"with {min(with_outbox):.2f} s; delivery then unfolded its {unfolded} messages "
          f"in {min(unfolding):.2f} s", file=sys.stderr)
    flush_redis(redis_url)
    if not args.keep:
        from django.db import connections

        connections.close_all()
        drop_database(server, database)

    print(
        f"deliveries={len(receiver.arrived)} duplicates={duplicates} lost={lost} "
        f"p50_ms={percentile(latencies, 0.5):.0f} p95_ms={percentile(latencies, 0.95):.0f} "
        f"burst={args.burst} burst_s={burst_s:.1f} rescore_overhead_pct={overhead:.1f}"
    )


if __name__ == "__main__":
    main()
