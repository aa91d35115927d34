"""Speed to lead under load: how long a hand-raise takes to reach a rep's
queue while background clients send routine usage.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/latency.py --rate 3000 --seconds 60 [--workers 1]

Run as a deployment would be: gunicorn with 3 workers, PostgreSQL, Redis and
`manage.py rqworker scoring default --with-scheduler` (ONE unless --workers
says otherwise), on a fresh database (<name>_latency_bench) holding a demo
book (seed_demo, 3,000 accounts) and the starter definition. Reps' capacity
is lifted, so that a probe left unassigned means scoring or routing was
late, never that the team was full. REDIS_URL's database is flushed before
and after (--redis-db picks another).

Background clients send batches of 100 `track` calls (routine usage: no
event a trigger counts) for about 2,000 existing people at --rate events/s
for --seconds. Before any of it, a few routine calls sent at once warm every
gunicorn worker and the RQ worker, as a deployment's traffic keeps them warm
(a process's first request pays its connections). After a warm-up, probes, spread over the run, each send one
`contact_sales_clicked` (a trigger) for an account of their own, identified
and grouped before the load started, and time from sending it until the
account is PQL and has an owner. Last line:

rate=R workers=W probes=N p50_ms=A p95_ms=B max_ms=C unassigned=U backlog_max=Q

where `unassigned` counts probes not assigned 30 s after their 200 and
`backlog_max` is the most accounts seen waiting to be scored (sampled twice a
second). With --find-max it then looks for the highest rate whose p95 stays
under 1 s with no probe unassigned (rates growing by half from --rate, then
bisected), and prints `max_rate=R workers=W` last; when the clients cannot
send a rate asked, R is the most they sent, and a line says so.
"""

import argparse
import json
import math
import multiprocessing
import os
import random
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402
from database import percentile, server_config  # noqa: E402
from services import (  # noqa: E402
    analyze,
    basic_auth,
    drop_database,
    flush_redis,
    free_port,
    post,
    set_up_django,
    start_gunicorn,
    start_worker,
    stop,
    wait_for,
)

BATCH = 100
ROUTINE_EVENTS = ["login", "login", "login", "hour_logged", "message_sent", "message_sent",
                  "file_uploaded", "pricing_page_viewed", "channel_created"]
LIBRARY = {"library": {"name": "analytics-python", "version": "2.4.0"}}
UNASSIGNED_AFTER_S = 30.0
# How often a probe looks for its assignment: at most this much of a timing is the probe's own.
POLL_S = 0.005
WARM_UP_S = 3.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=3000, help="background events per second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=1, help="RQ workers")
    parser.add_argument("--probes", type=int, default=None, help="default: one a second")
    parser.add_argument("--accounts", type=int, default=3000, help="demo book size")
    parser.add_argument("--people", type=int, default=2000, help="people the background uses")
    parser.add_argument("--clients", type=int, default=None, help="background processes")
    parser.add_argument("--redis-db", type=int, default=None, help="default: REDIS_URL's own")
    parser.add_argument("--find-max", action="store_true", help="then search the highest rate")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    redis_db = args.redis_db
    if redis_db is None:
        tail = (os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0").rsplit("/", 1)[-1]
        redis_db = int(tail) if tail.isdigit() else 0
    server, database, redis_url = set_up_django(suffix="latency_bench", redis_db=redis_db)
    auth, people = seed(args)
    analyze(server, database)
    probe_pool = ProbePool(auth)

    port = free_port()
    gunicorn = start_gunicorn(port=port, workers=3, database=database, redis_url=redis_url)
    workers = [
        start_worker(database=database, redis_url=redis_url, queues=("scoring", "default"))
        for _ in range(args.workers)
    ]
    try:
        wait_for(port)
        warm_up(port, auth, people)
        print(f"demo book of {args.accounts} accounts, {len(people)} people for the background, "
              f"{args.workers} RQ worker(s), gunicorn 3 workers", file=sys.stderr)
        run = measure(port, auth, people, probe_pool, rate=args.rate, seconds=args.seconds,
                      probes=args.probes, clients=args.clients, database=database)
        report(run, workers=args.workers)
        if args.find_max:
            best, senders_limit = find_max(port, auth, people, probe_pool, args, database=database, first=run)
            if senders_limit:
                print(f"the background reached no more than {best:.0f} events/s (the clients or "
                      "ingestion were the limit): the highest rate is at least that", file=sys.stderr)
            print(f"max_rate={best:.0f} workers={args.workers}")
    finally:
        stop(gunicorn)
        for worker in workers:
            stop(worker)
        flush_redis(redis_url)
        from django.db import connection

        connection.close()
        if not args.keep:
            drop_database(server, database)


# --- set-up --------------------------------------------------------------------------


def seed(args) -> tuple[str, list[str]]:
    """The demo book, the starter definition, reps that never fill up, a source."""
    from django.core.management import call_command

    from leads.models import Person, SalesRep, Source
    from scoring.rescoring import rescore_all
    from scoring.starter import ensure_starter_definition

    call_command("seed_demo", "--accounts", str(args.accounts), "--seed", "13",
                 stdout=open(os.devnull, "w"))  # noqa: SIM115
    ensure_starter_definition()
    rescore_all(reason="latency benchmark set-up")
    SalesRep.objects.update(capacity=1_000_000)
    source = Source.objects.create(name="Latency", slug="latency")
    people = list(
        Person.objects.filter(account__isnull=False).exclude(external_id="")
        .order_by("?").values_list("external_id", flat=True)[: args.people]
    )
    if not people:
        sys.exit("the demo book has no identified people")
    return basic_auth(source.write_key), people


class ProbePool:
    """Fresh accounts for the probes, each with one person, identified and
    grouped ahead of the load (not timed)."""

    def __init__(self, auth: str):
        self.auth = auth
        self.made = 0

    def take(self, port: int, count: int) -> list[tuple[str, str]]:
        now = datetime.now(UTC).isoformat()
        made = []
        messages = []
        for n in range(self.made, self.made + count):
            user, group = f"probe-user-{n}", f"probe-account-{n}"
            messages.append({"type": "identify", "messageId": f"probe-identify-{n}", "userId": user,
                             "timestamp": now, "traits": {"email": f"{user}@probe.example"}})
            messages.append({"type": "group", "messageId": f"probe-group-{n}", "userId": user,
                             "groupId": group, "timestamp": now,
                             "traits": {"name": f"Probe {n}", "country": "US", "employees": 20,
                                        "industry": "software", "plan": "trial"}})
            made.append((user, group))
        self.made += count
        for start in range(0, len(messages), 200):
            body = json.dumps({"batch": messages[start : start + 200], "sentAt": now}).encode()
            if post(port, self.auth, body) != 200:
                sys.exit("setting up the probes' accounts failed")
        return made


# --- one measured run ---------------------------------------------------------------------


def measure(port, auth, people, probe_pool, *, rate, seconds, probes, clients, database) -> dict:
    probes = probes or max(1, int(seconds - WARM_UP_S))
    targets = probe_pool.take(port, probes)
    account_ids = account_ids_of([group for _, group in targets])
    clients = clients or max(2, math.ceil(rate / 600))
    deadline = time.time() + seconds
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    background = [
        context.Process(target=client, args=(n, port, auth, people, rate / clients, deadline, results))
        for n in range(clients)
    ] if rate > 0 else []
    for process in background:
        process.start()

    waits, timings, answers, breakdown, lock = [], [], [], [], threading.Lock()
    sampler_stop = threading.Event()
    sampler = threading.Thread(target=sample_backlog, args=(waits, sampler_stop), daemon=True)
    sampler.start()
    threads = []
    spacing = max(0.0, seconds - WARM_UP_S) / probes
    started = time.time()
    for n, (user, group) in enumerate(targets):
        time.sleep(max(0.0, started + WARM_UP_S + n * spacing - time.time()))
        thread = threading.Thread(
            target=probe, args=(port, auth, user, account_ids[group], database, timings, answers, breakdown, lock)
        )
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    sent = [results.get() for _ in background]
    for process in background:
        process.join()
    sampler_stop.set()
    sampler.join()
    assigned = [ms for ms in timings if ms is not None]
    return {
        "rate": rate,
        "sent_rate": sum(n for n, _ in sent) / seconds if sent else 0.0,
        "errors": sum(e for _, e in sent),
        "probes": len(timings),
        "assigned": assigned,
        "answers": answers,
        "breakdown": breakdown,
        "unassigned": sum(1 for ms in timings if ms is None),
        "backlog_max": max((w for w, _ in waits), default=0),
        "queue_max": max((q for _, q in waits), default=0),
    }


def account_ids_of(groups: list[str]) -> dict[str, int]:
    from leads.models import Account

    return dict(Account.objects.filter(external_id__in=groups).values_list("external_id", "pk"))


def report(run: dict, *, workers: int) -> None:
    assigned = run["assigned"]
    p50 = percentile(assigned, 0.5) if assigned else float("nan")
    p95 = percentile(assigned, 0.95) if assigned else float("nan")
    worst = max(assigned) if assigned else float("nan")
    run["p95"] = p95 if run["unassigned"] == 0 else float("inf")
    print(f"background sent {run['sent_rate']:.0f} events/s (asked {run['rate']:.0f}), "
          f"{run['errors']} failed requests, most jobs queued {run['queue_max']}, "
          f"probes answered 200 in p50 {percentile(run['answers'], 0.5):.0f} ms", file=sys.stderr)
    if run["breakdown"]:
        print("probe phases, p50 / p95 ms: " + ", ".join(
            f"{phase} {percentile([b[phase] for b in run['breakdown']], 0.5):.0f}"
            f" / {percentile([b[phase] for b in run['breakdown']], 0.95):.0f}"
            for phase in run["breakdown"][0]
        ), file=sys.stderr)
    print(f"rate={run['rate']:.0f} workers={workers} probes={run['probes']} p50_ms={p50:.0f} "
          f"p95_ms={p95:.0f} max_ms={worst:.0f} unassigned={run['unassigned']} "
          f"backlog_max={run['backlog_max']}", flush=True)


def find_max(port, auth, people, probe_pool, args, *, database, first) -> tuple[float, bool]:
    """Rates growing by half while p95 < 1 s, then three bisection steps.

    A rate holds when p95 stays under 1 s with every probe assigned; it
    counts as reached only when the clients sent at least 90% of it. When
    they could not, the search stops there: returns the highest rate that
    held and whether the clients, not scoring, were the limit.
    """
    seconds = min(args.seconds, 30)

    def holds(run: dict) -> bool:
        return run["p95"] < 1000

    def reached(run: dict) -> bool:
        return run["sent_rate"] >= 0.9 * run["rate"]

    def attempt(rate: float) -> dict:
        run = measure(port, auth, people, probe_pool, rate=rate, seconds=seconds,
                      probes=None, clients=None, database=database)
        report(run, workers=args.workers)
        drain_backlog()
        return run

    if holds(first):
        if not reached(first):
            return first["sent_rate"], True
        good, bad = args.rate, None
    else:
        good, bad = 0.0, args.rate
    while bad is None:
        run = attempt(good * 1.5 if good else 500)
        if not holds(run):
            bad = run["rate"]
        elif not reached(run):
            return max(good, run["sent_rate"]), True
        else:
            good = run["rate"]
    for _ in range(3):
        run = attempt((good + bad) / 2)
        if not holds(run):
            bad = run["rate"]
        elif not reached(run):
            return max(good, run["sent_rate"]), True
        else:
            good = run["rate"]
    return good, False


def drain_backlog(seconds: float = 120) -> None:
    """Let the workers catch up between search steps."""
    deadline = time.time() + seconds
    while time.time() < deadline and sample()[0]:
        time.sleep(0.5)


# --- background clients and probes --------------------------------------------------------


def client(number: int, port: int, auth: str, people: list[str], rate: float, deadline: float, results):
    """Send batches of routine usage at `rate` events/s until the deadline."""
    rng = random.Random(number)
    interval = BATCH / rate
    sent = errors = 0
    next_at = time.time()
    while time.time() < deadline:
        now = datetime.now(UTC)
        messages = [
            {"type": "track", "messageId": f"bg-{number}-{sent + i}", "userId": rng.choice(people),
             "event": rng.choice(ROUTINE_EVENTS), "properties": {"seq": i},
             "timestamp": (now - timedelta(seconds=rng.randrange(600))).isoformat(timespec="milliseconds"),
             "context": LIBRARY}
            for i in range(BATCH)
        ]
        status = post(port, auth, json.dumps({"batch": messages, "sentAt": now.isoformat()}).encode())
        if status == 200:
            sent += BATCH
        else:
            errors += 1
        next_at += interval
        time.sleep(max(0.0, next_at - time.time()))
        next_at = max(next_at, time.time() - interval)  # behind: do not burst to catch up
    results.put((sent, errors))


def warm_up(port: int, auth: str, people: list[str], *, rounds: int = 4, at_once: int = 6) -> None:
    """A deployment's processes are warm from the traffic they serve: send
    some routine usage at once, so that every gunicorn worker and the RQ
    worker have connected and served the ingest path before any probe (with
    --rate 0 nothing else would). Then let the worker drain it."""
    now = datetime.now(UTC).isoformat()

    def send(n: int) -> None:
        message = {"type": "track", "messageId": f"warm-up-{n}", "userId": people[n % len(people)],
                   "event": "login", "timestamp": now, "context": LIBRARY}
        post(port, auth, json.dumps({"batch": [message], "sentAt": now}).encode())

    for round_ in range(rounds):
        threads = [threading.Thread(target=send, args=(round_ * at_once + i,)) for i in range(at_once)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    drain_backlog()


def probe(port, auth, user, account_id, database, timings, answers, breakdown, lock) -> None:
    """One hand-raise, timed from sending it until its account is a PQL assigned to a rep."""
    server = server_config()[0]
    with psycopg.connect(dbname=database, autocommit=True, **server) as connection:
        now = datetime.now(UTC).isoformat()
        body = json.dumps({"batch": [{
            "type": "track", "messageId": f"hand-{user}", "userId": user,
            "event": "contact_sales_clicked", "timestamp": now, "context": LIBRARY,
        }], "sentAt": now}).encode()
        phases = None
        sent_at = time.time()
        started = time.perf_counter()
        status = post(port, auth, body)
        answered = time.perf_counter()
        result = None
        if status == 200:
            while time.perf_counter() - answered < UNASSIGNED_AFTER_S:
                row = connection.execute(
                    "SELECT status = 'assigned' AND owner_id IS NOT NULL FROM leads_account WHERE id = %s",
                    [account_id],
                ).fetchone()
                if row and row[0]:
                    result = (time.perf_counter() - started) * 1000
                    break
                time.sleep(POLL_S)
        if result is not None:
            phases = probe_phases(connection, account_id, sent_at=sent_at,
                                  answered_at=sent_at + answered - started, seen_at=sent_at + result / 1000)
    with lock:
        timings.append(result)
        answers.append((answered - started) * 1000)
        if phases:
            breakdown.append(phases)


def probe_phases(connection, account_id: int, *, sent_at: float, answered_at: float, seen_at: float) -> dict:
    """Where a probe's time went, from the times the database recorded: the
    200; waiting until a rescore took the account (its result's computed_at,
    when that rescore started); scoring, moving and assigning (assigned_at,
    inside the rescore's transaction); committing and being seen by the probe."""
    started, assigned = connection.execute(
        "SELECT extract(epoch FROM s.computed_at), extract(epoch FROM a.assigned_at)"
        " FROM leads_account a JOIN scoring_accountscore s ON s.account_id = a.id WHERE a.id = %s",
        [account_id],
    ).fetchone()
    started, assigned = float(started), float(assigned)
    return {
        "answer": (answered_at - sent_at) * 1000,
        "wait": (started - answered_at) * 1000,
        "score": (assigned - started) * 1000,
        "commit_seen": (seen_at - assigned) * 1000,
    }


def sample() -> tuple[int, int]:
    """Accounts waiting to be scored, and jobs queued."""
    from scoring import jobs

    redis = jobs.scoring_queue().connection
    with redis.pipeline() as pipe:
        # (Names of the waiting sets, absent before accounts waited in them.)
        for key in (getattr(jobs, "URGENT", "none"), getattr(jobs, "ROUTINE", "none")):
            pipe.zcard(key)
        pipe.llen(f"rq:queue:{jobs.QUEUE}")
        urgent, routine, queued = pipe.execute()
    return urgent + routine, queued


def sample_backlog(waits: list, stop_sampling: threading.Event) -> None:
    while not stop_sampling.is_set():
        waits.append(sample())
        stop_sampling.wait(0.5)


if __name__ == "__main__":
    main()
