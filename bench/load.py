"""Load test: many clients sending batches to /v1/batch for a fixed time,
against gunicorn, PostgreSQL and an RQ worker on this machine.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
        .venv/bin/python bench/load.py --seconds 60 --clients 8

It creates a fresh database (<name>_load_bench) with the starter PQL
definition active, starts gunicorn and `manage.py rqworker scoring` (Redis
database 13 of REDIS_URL's server, flushed before and after), identifies and
groups the people, then lets every client send batches of track calls for
people of overlapping accounts, some of them resending a batch they sent
before (same message ids, as an SDK does after a timeout). When the time is
up it waits for the worker to drain the queue and checks:

- events stored == distinct events accepted (and == distinct sent when no
  request failed): nothing lost, nothing stored twice;
- no 5xx answer;
- every touched account rescored: its stored result equals a fresh
  evaluation of all its events;
- the status history has no duplicate transition.

It exits 1 when a check fails. Last line:
sent=N accepted=A stored=S duplicates=D errors_5xx=E p50_ms=X p99_ms=Y eps=R
"""

import argparse
import json
import multiprocessing
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from database import percentile  # noqa: E402
from services import (  # noqa: E402
    analyze,
    basic_auth,
    drop_database,
    flush_redis,
    free_port,
    post,
    set_up_django,
    set_up_people,
    start_gunicorn,
    start_worker,
    stop,
    wait_for,
)

EVENT_NAMES = [
    "login", "login", "login", "hour_logged", "message_sent", "message_sent", "invite_sent",
    "file_uploaded", "pricing_page_viewed", "usage_limit_hit", "contact_sales_clicked",
]
LIBRARY = {"library": {"name": "analytics-python", "version": "2.4.0"}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=8, help="concurrent client processes")
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--resend", type=float, default=0.1, help="share of requests resending a batch")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn workers")
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--drain-seconds", type=float, default=600, help="longest wait for the worker")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    server, database, redis_url = set_up_django(suffix="load_bench", redis_db=13)
    from leads.models import Source
    from scoring.starter import ensure_starter_definition

    ensure_starter_definition()
    source = Source.objects.create(name="Load", slug="load")
    auth = basic_auth(source.write_key)
    port = free_port()
    gunicorn = start_gunicorn(port=port, workers=args.workers, database=database, redis_url=redis_url)
    worker = start_worker(database=database, redis_url=redis_url)
    try:
        wait_for(port)
        set_up_people(port, auth, accounts=args.accounts, people=args.people)
        analyze(server, database)
        print(f"{args.clients} clients for {args.seconds:.0f} s, batches of {args.batch}, "
              f"{args.resend:.0%} resent, {args.workers} gunicorn workers, 1 RQ worker", file=sys.stderr)
        tally = run_clients(port, auth, args)
        drained_s = drain(args.drain_seconds)
    finally:
        stop(gunicorn)
        stop(worker)

    checks = check(tally)
    flush_redis(redis_url)
    from django.db import connection

    connection.close()
    if not args.keep:
        drop_database(server, database)

    latencies = tally["latencies"]
    print(
        f"database={database} requests={len(latencies)} distinct_sent={tally['distinct_sent']} "
        f"distinct_accepted={tally['distinct_accepted']} other_errors={tally['other_errors']} "
        f"drain_s={drained_s:.1f} accounts_touched={checks['touched']} stale={checks['stale']} "
        f"duplicate_transitions={checks['duplicate_transitions']}",
        file=sys.stderr,
    )
    for failure in checks["failures"]:
        print(f"FAILED: {failure}", file=sys.stderr)
    print(
        f"sent={tally['sent']} accepted={tally['accepted']} stored={checks['stored']} "
        f"duplicates={tally['sent'] - tally['distinct_sent']} errors_5xx={tally['errors_5xx']} "
        f"p50_ms={percentile(latencies, 0.5):.0f} p99_ms={percentile(latencies, 0.99):.0f} "
        f"eps={tally['accepted'] / args.seconds:.0f}"
    )
    sys.exit(1 if checks["failures"] else 0)


# --- the clients -------------------------------------------------------------


def new_batch(client: int, number: int, *, size: int, people: int, rng: random.Random) -> bytes:
    now = datetime.now(UTC)
    messages = [
        {
            "type": "track",
            "messageId": f"load-{client}-{number}-{i}",
            "userId": f"user-{rng.randrange(people)}",
            "event": rng.choice(EVENT_NAMES),
            "properties": {"plan": "trial", "seq": i},
            "timestamp": (now - timedelta(seconds=rng.randrange(3600))).isoformat(timespec="milliseconds"),
            "context": LIBRARY,
        }
        for i in range(size)
    ]
    return json.dumps({"batch": messages, "sentAt": now.isoformat()}).encode()


def client(number: int, port: int, auth: str, args, deadline: float, results) -> None:
    """Send until the deadline; resend an earlier batch now and then."""
    rng = random.Random(number)
    bodies: list[bytes] = []
    accepted: set[int] = set()  # batches answered 200 at least once
    tally = {"sent": 0, "accepted": 0, "errors_5xx": 0, "other_errors": 0, "latencies": []}
    while time.time() < deadline:
        if bodies and rng.random() < args.resend:
            index = rng.randrange(len(bodies))
        else:
            bodies.append(new_batch(number, len(bodies), size=args.batch, people=args.people, rng=rng))
            index = len(bodies) - 1
        started = time.perf_counter()
        status = post(port, auth, bodies[index])
        tally["latencies"].append((time.perf_counter() - started) * 1000)
        tally["sent"] += args.batch
        if status == 200:
            tally["accepted"] += args.batch
            accepted.add(index)
        elif status >= 500:
            tally["errors_5xx"] += 1
        else:
            tally["other_errors"] += 1
    tally["distinct_sent"] = len(bodies) * args.batch
    tally["distinct_accepted"] = len(accepted) * args.batch
    results.put(tally)


def run_clients(port: int, auth: str, args) -> dict:
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    deadline = time.time() + 1 + args.seconds
    processes = [
        context.Process(target=client, args=(n, port, auth, args, deadline, results))
        for n in range(args.clients)
    ]
    for process in processes:
        process.start()
    tallies = [results.get() for _ in processes]
    for process in processes:
        process.join()
    total = {key: sum(t[key] for t in tallies) for key in tallies[0] if key != "latencies"}
    total["latencies"] = [ms for t in tallies for ms in t["latencies"]]
    return total


# --- draining and checking ------------------------------------------------------


def drain(seconds: float) -> float:
    """Wait until the worker has nothing queued, running or held."""
    from rq.registry import StartedJobRegistry

    from scoring.jobs import scoring_queue
    from scoring.models import PendingRescore

    queue = scoring_queue()
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        busy = queue.count + StartedJobRegistry(queue=queue).count
        if not busy and not PendingRescore.objects.exists():
            return time.monotonic() - started
        time.sleep(0.5)
    print(f"the worker did not drain within {seconds:.0f} s", file=sys.stderr)
    return time.monotonic() - started


def check(tally: dict) -> dict:
    from django.db import connection
    from django.utils import timezone

    from leads.models import Event
    from scoring.engine import evaluate
    from scoring.facts import gather_facts
    from scoring.rescoring import encode
    from scoring.scorecards import active_scorecard

    failures = []
    stored = Event.objects.filter(source="load").count()
    if stored != tally["distinct_accepted"]:
        failures.append(f"{stored} events stored, {tally['distinct_accepted']} distinct accepted")
    if tally["errors_5xx"]:
        failures.append(f"{tally['errors_5xx']} requests answered 5xx")

    # Rescored: each touched account's stored result is what its events give now.
    card = active_scorecard()
    touched = list(
        Event.objects.filter(source="load").order_by().values_list("account_id", flat=True).distinct()
    )
    book = gather_facts(card, now=timezone.now(), account_ids=touched)
    stale = [
        facts.account_id
        for facts in book.facts
        if encode(evaluate(card, facts), card.id).digest != book.digests.get(facts.account_id)
    ]
    if stale:
        failures.append(f"{len(stale)} touched accounts not rescored, e.g. {stale[:5]}")

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM (
                SELECT from_status, to_status, owner_id,
                       lag(from_status) OVER account_history AS from_before,
                       lag(to_status) OVER account_history AS to_before,
                       lag(owner_id) OVER account_history AS owner_before
                FROM leads_statuschange
                WINDOW account_history AS (PARTITION BY account_id ORDER BY changed_at, id)
            ) history
            WHERE to_before IS NOT NULL AND (
                from_status <> to_before
                OR (from_status, to_status) = (from_before, to_before)
                   AND owner_id IS NOT DISTINCT FROM owner_before
            )
            """
        )
        duplicate_transitions = cursor.fetchone()[0]
    if duplicate_transitions:
        failures.append(f"{duplicate_transitions} status changes repeat or skip the one before")
    return {
        "stored": stored,
        "touched": len(touched),
        "stale": len(stale),
        "duplicate_transitions": duplicate_transitions,
        "failures": failures,
    }


if __name__ == "__main__":
    main()
