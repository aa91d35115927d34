"""Benchmark: a full rescore against the floor, one query computing the same
event counts for every account by hand; and single-account rescores.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
        .venv/bin/python bench/rescore.py --accounts 100000 --events 5000000 --redis-db 5

The first full rescore of a freshly seeded book is the figure: every result
is new. The seed dates each account's history from its events, so few
statuses move; with --all-signed-up every account starts signed up with no
history (a book loaded before scoring, or a definition that qualifies many at
once), and the accounts that qualify (about 12% of the book) move to PQL, are
routed and announced, in the same pass: the costly case. The book is
seeded once; its untouched copy is kept as the template database
`<database>_seeded`, and every run starts from a fresh copy of it, so the
first rescore is always a first. A second, steady rescore (nothing changed,
as the daily safety net usually finds) is reported beside it.

Jobs the run enqueues (the rescore after activating the definition, alert
deliveries) go to Redis database --redis-db (default: REDIS_URL's), which is
flushed before and after; no worker runs them, so none is timed.

Last line: accounts=N events=M rescore_s=S floor_s=F ratio=R single_ms=T steady_s=S2 steady_ratio=R2
"""

import argparse
import logging
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from database import percentile, server_config, use_benchmark_database
from services import bench_redis_url, flush_redis

# The starter definition's event counts, written by hand: the floor. With
# them, the oldest login its "last 14 days" counts (when that count next
# drops with time alone), which a rescore now reads too.
FLOOR_SQL = """
SELECT e.account_id,
       count(*) FILTER (WHERE e.name = 'contact_sales_clicked'),
       count(*) FILTER (WHERE e.name = 'usage_limit_hit'),
       count(*) FILTER (WHERE e.name = 'invite_sent'),
       count(*) FILTER (WHERE e.name = 'pricing_page_viewed'),
       count(*) FILTER (WHERE e.name = 'hour_logged' AND e.occurred_at >= a.signed_up_at
                          AND e.occurred_at <= a.signed_up_at + interval '7 days'),
       count(*) FILTER (WHERE e.name = 'message_sent'),
       count(*) FILTER (WHERE e.name = 'file_uploaded'
                          AND e.properties ->> 'kind' = 'financial_statement'),
       count(DISTINCT (e.occurred_at AT TIME ZONE 'UTC')::date),
       count(*) FILTER (WHERE e.name = 'login' AND e.occurred_at >= now() - interval '14 days'),
       min(e.occurred_at) FILTER (WHERE e.name = 'login' AND e.occurred_at >= now() - interval '14 days'),
       count(*) FILTER (WHERE e.name = 'channel_created'),
       count(*) FILTER (WHERE e.name = 'file_uploaded')
FROM leads_event e
JOIN leads_account a ON a.id = e.account_id
GROUP BY e.account_id
"""


def fresh_book(database: str) -> None:
    """Start from the book as seeded: copy it back from its template, or make
    the template on the first run (from a book never scored)."""
    import psycopg
    from django.db import connections

    from scoring.models import ScoringRun

    template = f"{database}_seeded"
    server, _, _ = server_config()
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        kept = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template]).fetchone()
        if not kept and ScoringRun.objects.exists():
            sys.exit(
                f"{database} was rescored before and {template} does not exist: drop {database} "
                "(the next run seeds it again) so that the first rescore is a first."
            )
        connections.close_all()
        started = time.perf_counter()
        if kept:
            admin.execute(f'DROP DATABASE "{database}"')
            admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
        else:
            admin.execute(f'CREATE DATABASE "{template}" TEMPLATE "{database}"')
    print(f"Fresh copy of the seeded book in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def forget_statuses() -> None:
    """Every account back to signed up, with no owner, score, history or
    message (not timed): a book loaded before scoring, or a definition that
    qualifies many accounts at once. The first rescore then moves about 12%
    of the book to PQL, routes and announces them in the same pass."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE leads_account SET status = 'signed_up', owner_id = NULL, assigned_at = NULL, "
            "sla_due_at = NULL WHERE status <> 'signed_up' OR owner_id IS NOT NULL"
        )
        for table in ("leads_outboxmessage", "leads_statuschange", "scoring_accountscore"):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (our own table names)
        for table in ("leads_account", "leads_outboxmessage", "leads_statuschange", "scoring_accountscore"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print("Every account signed up, unscored, without history", file=sys.stderr)


class PhaseTotals(logging.Handler):
    """Adds up the phases the rescore logs for each stored chunk."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seconds: Counter = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.seconds.update(getattr(record, "phases", {}))

    def take(self) -> str:
        words = " ".join(f"{phase}_s={seconds:.2f}" for phase, seconds in self.seconds.items())
        self.seconds.clear()
        return words


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--singles", type=int, default=200, help="single-account rescores to time")
    parser.add_argument("--redis-db", type=int, default=None, help="Redis database for the jobs (flushed)")
    parser.add_argument(
        "--all-signed-up",
        action="store_true",
        help="start from the book with every account signed up, unscored and without history (the costly case)",
    )
    args = parser.parse_args()

    redis_db = args.redis_db
    if redis_db is None:
        tail = os.environ.get("REDIS_URL", "").rsplit("/", 1)[-1]
        if not tail.isdigit():
            sys.exit("Give --redis-db (flushed before and after), or a REDIS_URL ending in its number.")
        redis_db = int(tail)
    redis_url = bench_redis_url(redis_db)
    os.environ["REDIS_URL"] = redis_url
    os.environ["CACHE_REDIS_DB"] = str(redis_db)
    flush_redis(redis_url)
    try:
        run(args, redis_url)
    finally:
        flush_redis(redis_url)


def run(args, redis_url: str) -> None:
    database = use_benchmark_database(accounts=args.accounts, events=args.events)
    fresh_book(database)

    from django.core.management import call_command
    from django.db import connection

    from leads.models import Account
    from scoring.rescoring import rescore_accounts, rescore_all
    from scoring.starter import ensure_starter_definition

    call_command("migrate", verbosity=0)  # the template may predate a migration
    if args.all_signed_up:
        forget_statuses()
    phases = PhaseTotals()
    logging.getLogger("scoring.rescoring").addHandler(phases)
    logging.getLogger("scoring.rescoring").setLevel(logging.DEBUG)
    logging.getLogger("scoring.rescoring").propagate = False

    definition = ensure_starter_definition()
    if not definition.is_active:
        from scoring.definitions import activate

        activate(definition)
    flush_redis(redis_url)  # the full rescore the activation enqueued: this run does it

    def floor() -> float:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(FLOOR_SQL)
            rows = cursor.fetchall()
        assert rows, "no events to count"
        return time.perf_counter() - started

    floor()  # warm the cache the same way for both sides
    floor_s = min(floor() for _ in range(2))

    started = time.perf_counter()
    first = rescore_all(reason="benchmark, first")
    rescore_s = time.perf_counter() - started
    first_phases = phases.take()
    started = time.perf_counter()
    steady = rescore_all(reason="benchmark, nothing changed")
    steady_s = time.perf_counter() - started
    phases.take()

    ids = list(Account.objects.values_list("pk", flat=True))
    sample = random.Random(7).sample(ids, min(args.singles, len(ids)))
    timings = []
    for account_id in sample:
        started = time.perf_counter()
        rescore_accounts([account_id])
        timings.append((time.perf_counter() - started) * 1000)

    print(
        f"database={database} pqls={Account.objects.pql().count()} "
        f"assigned={Account.objects.filter(status='assigned', assigned_at__gte=first.started_at).count()} "
        f"results_written={first.results_changed} statuses_changed={first.statuses_changed} "
        f"writer: {first_phases} "
        f"steady_changed={steady.results_changed} steady_statuses={steady.statuses_changed} "
        f"single_p50_ms={percentile(timings, 0.5):.1f} single_p95_ms={percentile(timings, 0.95):.1f}",
        file=sys.stderr,
    )
    print(
        f"accounts={args.accounts} events={args.events} rescore_s={rescore_s:.2f} "
        f"floor_s={floor_s:.2f} ratio={rescore_s / floor_s:.2f} "
        f"single_ms={percentile(timings, 0.5):.1f} "
        f"steady_s={steady_s:.2f} steady_ratio={steady_s / floor_s:.2f}"
    )


if __name__ == "__main__":
    main()
