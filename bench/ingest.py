"""Benchmark: events per second through POST /v1/batch (gunicorn, PostgreSQL,
several concurrent clients, batches of 100), against the floor: a raw psycopg
COPY of the same rows into a copy of the events table, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
        .venv/bin/python bench/ingest.py --events 200000 --clients 4

It creates a fresh database (<name>_ingest_bench), migrates it, starts
gunicorn on a free port, identifies and groups the people through the API
(not timed), then times the clients sending track batches. The floor is the
best of three COPYs of the same rows into a table like leads_event (same
indexes and constraints). The database is dropped at the end (--keep keeps it).
Rescores go to Redis database 14 (REDIS_URL's server, or 127.0.0.1:6379) with
no worker running, as a web process would enqueue them; that database is
flushed before and after. Throttling is lifted for the run.

Last line: ingest_eps=A copy_eps=B ratio=R errors=E
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

from database import server_config  # noqa: E402
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
    stop,
    wait_for,
)

EVENT_NAMES = [
    "login", "hour_logged", "invite_sent", "message_sent", "channel_created",
    "file_uploaded", "pricing_page_viewed", "usage_limit_hit", "contact_sales_clicked",
]
LIBRARY = {"library": {"name": "analytics-python", "version": "2.4.0"}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes")
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn workers")
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    server, database, redis_url = set_up_django(suffix="ingest_bench", redis_db=14)
    from leads.models import Source

    source = Source.objects.create(name="Benchmark", slug="bench")
    port = free_port()
    gunicorn = start_gunicorn(port=port, workers=args.workers, database=database, redis_url=redis_url)
    try:
        wait_for(port)
        auth = basic_auth(source.write_key)
        set_up_people(port, auth, accounts=args.accounts, people=args.people)
        analyze(server, database)
        bodies, messages = track_batches(args.events, batch=args.batch, people=args.people)
        print(f"Sending {args.events} events in {len(bodies)} batches of {args.batch} "
              f"from {args.clients} clients to {args.workers} gunicorn workers", file=sys.stderr)
        before = cpu_snapshot(gunicorn.pid, database)
        ingest_s, errors = send_concurrently(port, auth, bodies, clients=args.clients)
        after = cpu_snapshot(gunicorn.pid, database)
        # Backends opened during the run count whole.
        cpu_used = {
            side: sum(seconds - before[side].get(pid, 0.0) for pid, seconds in after[side].items())
            for side in after
        }
    finally:
        stop(gunicorn)

    from django.db import connection

    from leads.models import Event

    stored = Event.objects.count()
    rows = copy_rows(messages)
    connection.close()
    copy_s = time_copy(server, database, rows)
    flush_redis(redis_url)
    if not args.keep:
        drop_database(server, database)

    ingest_eps = args.events / ingest_s
    copy_eps = len(rows) / copy_s
    print(
        f"database={database} stored={stored} ingest_s={ingest_s:.2f} copy_s={copy_s:.2f} "
        f"batches={len(bodies)} batch={args.batch} clients={args.clients} workers={args.workers} "
        f"web_cpu_ms_per_batch={cpu_used['web'] * 1000 / len(bodies):.1f} "
        f"db_cpu_ms_per_batch={cpu_used['db'] * 1000 / len(bodies):.1f}",
        file=sys.stderr,
    )
    if stored != args.events:
        print(f"WARNING: {stored} events stored, {args.events} sent", file=sys.stderr)
    print(
        f"ingest_eps={ingest_eps:.0f} copy_eps={copy_eps:.0f} "
        f"ratio={ingest_eps / copy_eps:.2f} errors={errors}"
    )


# --- what the server costs -----------------------------------------------


def cpu_snapshot(master: int, database: str) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each gunicorn worker ("web") and of each
    PostgreSQL backend connected to the benchmark database ("db")."""
    import psycopg

    server, _, _ = server_config()
    workers = [
        int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()
    ]
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        backends = [
            row[0] for row in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [database],
            )
        ]
    return {"web": cpu_seconds(workers), "db": cpu_seconds(backends)}


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User and system CPU time of each process, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


# --- the payloads ---------------------------------------------------------


def track_batches(count: int, *, batch: int, people: int) -> tuple[list[bytes], list[dict]]:
    """Request bodies as Segment's library sends them, built before timing."""
    rng = random.Random(42)
    start = datetime.now(UTC) - timedelta(days=1)
    messages = []
    for i in range(count):
        messages.append({
            "type": "track",
            "messageId": f"bench-{i}",
            "userId": f"user-{rng.randrange(people)}",
            "event": rng.choice(EVENT_NAMES),
            "properties": {"plan": "trial", "path": f"/app/{i % 50}", "seq": i},
            "timestamp": (start + timedelta(milliseconds=i)).isoformat(timespec="milliseconds"),
            "context": LIBRARY,
            "integrations": {},
        })
    sent_at = datetime.now(UTC).isoformat()
    bodies = [
        json.dumps({"batch": messages[s : s + batch], "sentAt": sent_at}).encode()
        for s in range(0, count, batch)
    ]
    return bodies, messages


def client(port: int, auth: str, bodies: list[bytes], go, results) -> None:
    go.wait()
    errors = sum(1 for body in bodies if post(port, auth, body) != 200)
    results.put(errors)


def send_concurrently(port: int, auth: str, bodies: list[bytes], *, clients: int) -> tuple[float, int]:
    """Wall time for `clients` processes to send every body; non-200 count."""
    context = multiprocessing.get_context("fork")
    go, results = context.Event(), context.Queue()
    processes = [
        context.Process(target=client, args=(port, auth, bodies[n::clients], go, results))
        for n in range(clients)
    ]
    for process in processes:
        process.start()
    time.sleep(0.5)
    started = time.perf_counter()
    go.set()
    errors = sum(results.get() for _ in processes)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    return elapsed, errors


# --- the floor ------------------------------------------------------------


def copy_rows(messages: list[dict]) -> list[tuple]:
    """The same events as rows of the events table, with their ids resolved."""
    from leads.models import Person

    people = dict(Person.objects.values_list("external_id", "pk"))
    accounts = dict(Person.objects.values_list("pk", "account_id"))
    received = datetime.now(UTC)
    rows = []
    for message in messages:
        person_id = people[message["userId"]]
        rows.append((
            accounts[person_id], person_id, message["event"], json.dumps(message["properties"]),
            datetime.fromisoformat(message["timestamp"]), received, "bench", message["messageId"],
        ))
    return rows


def time_copy(server: dict, database: str, rows: list[tuple], *, runs: int = 3) -> float:
    """COPY into a table like leads_event (same indexes and constraints), one
    transaction, committed. The best of `runs`, each into a fresh table: the
    machine may be busy with other work, and a slow floor would flatter us."""
    import psycopg

    timings = []
    with psycopg.connect(dbname=database, **server) as connection:
        for run in range(runs):
            table = f"bench_copy_event_{run}"
            connection.execute(f"CREATE TABLE {table} (LIKE leads_event INCLUDING ALL)")
            connection.commit()
            started = time.perf_counter()
            with connection.cursor() as cursor, cursor.copy(
                f"COPY {table} (account_id, person_id, name, properties, occurred_at, "
                "received_at, source, message_id) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            connection.commit()
            timings.append(time.perf_counter() - started)
            connection.execute(f"DROP TABLE {table}")
            connection.commit()
    return min(timings)


if __name__ == "__main__":
    main()
