"""Benchmark: a full rescore against the floor, one query computing the same
event counts for every account by hand; and single-account rescores.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
        .venv/bin/python bench/rescore.py --accounts 100000 --events 5000000

Last line: accounts=N events=M rescore_s=S floor_s=F ratio=R single_ms=T
"""

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from database import percentile, use_benchmark_database

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--singles", type=int, default=200, help="single-account rescores to time")
    args = parser.parse_args()

    database = use_benchmark_database(accounts=args.accounts, events=args.events)

    from django.db import connection

    from leads.models import Account
    from scoring.models import AccountScore
    from scoring.rescoring import rescore_accounts, rescore_all
    from scoring.starter import ensure_starter_definition

    definition = ensure_starter_definition()
    if not definition.is_active:
        from scoring.definitions import activate

        activate(definition)

    def floor() -> float:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(FLOOR_SQL)
            rows = cursor.fetchall()
        assert rows, "no events to count"
        return time.perf_counter() - started

    floor()  # warm the cache the same way for both sides
    floor_s = min(floor() for _ in range(2))

    # Every result changes, as after a definition change: the costly case.
    AccountScore.objects.all().delete()
    with connection.cursor() as cursor:
        # As autovacuum would: without it, every run leaves 100,000 more dead
        # rows (one more behind each key) and writes slower than the one before.
        cursor.execute(f"VACUUM ANALYZE {AccountScore._meta.db_table}")
    started = time.perf_counter()
    run = rescore_all(reason="benchmark")
    rescore_s = time.perf_counter() - started
    started = time.perf_counter()
    steady = rescore_all(reason="benchmark, nothing changed")
    steady_s = time.perf_counter() - started

    ids = list(Account.objects.values_list("pk", flat=True))
    sample = random.Random(7).sample(ids, min(args.singles, len(ids)))
    timings = []
    for account_id in sample:
        started = time.perf_counter()
        rescore_accounts([account_id])
        timings.append((time.perf_counter() - started) * 1000)

    print(
        f"database={database} pqls={Account.objects.pql().count()} "
        f"results_written={run.results_changed} statuses_changed={run.statuses_changed} "
        f"steady_rescore_s={steady_s:.2f} steady_changed={steady.results_changed} "
        f"single_p50_ms={percentile(timings, 0.5):.1f} single_p95_ms={percentile(timings, 0.95):.1f}",
        file=sys.stderr,
    )
    print(
        f"accounts={args.accounts} events={args.events} rescore_s={rescore_s:.2f} "
        f"floor_s={floor_s:.2f} ratio={rescore_s / floor_s:.2f} "
        f"single_ms={percentile(timings, 0.5):.1f}"
    )


if __name__ == "__main__":
    main()
