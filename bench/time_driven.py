"""CPU seconds per hour that time-driven rescoring costs, before and after.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/time_driven.py --accounts 100000 --events 5000000

Before: windows such as "last 14 days" were moved by a full rescore every 15
minutes, four an hour. After: each result records when time alone next
changes it, a pass every minute rescores the accounts due
(`next_change_at <= now`), and a full rescore runs once a day. The book is
the same as bench/rescore.py's (reused when it exists).

CPU is this process's (every thread, less the sampler's own) plus that of
the PostgreSQL backends of the benchmark database, read from /proc while
they run (so PostgreSQL must run on this machine). "Before" is a steady
full rescore (the previous one wrote everything) times four. "After"
replays the next hour minute by minute, with the clock the windows read
moved on each time, plus a twenty-fourth of a full rescore. Both are
measured after a VACUUM ANALYZE of the set-up's writes, as autovacuum would
have done. Scores are deleted and rewritten at real time afterwards. Last line:

accounts=N events=M before_cpu_s_per_h=B after_cpu_s_per_h=A ratio=R due_per_h=D
"""

import argparse
import os
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from database import use_benchmark_database

TICKS = os.sysconf("SC_CLK_TCK")


def backend_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


class CpuMeter:
    """CPU of this process and of the database's backends between start() and stop()."""

    def __init__(self, database: str):
        self.database = database

    def __enter__(self):
        import psycopg
        from database import server_config

        self.watcher = psycopg.connect(dbname=self.database, autocommit=True, **server_config()[0])
        self.stopping = threading.Event()
        self.seen: dict[int, int] = {}
        self.at_start = {pid: ticks for pid in self.backends() if (ticks := backend_ticks(pid)) is not None}
        self.sampler_cpu = 0.0
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.process_start = time.process_time()
        self.thread.start()
        return self

    def backends(self) -> list[int]:
        rows = self.watcher.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchall()
        return [pid for pid, in rows]

    def sample(self) -> None:
        while not self.stopping.is_set():
            self.read()
            self.stopping.wait(0.02)
        self.read()
        self.sampler_cpu = time.thread_time()

    def read(self) -> None:
        for pid in self.backends():
            ticks = backend_ticks(pid)
            if ticks is not None:
                self.seen[pid] = ticks

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join()
        self.process_s = time.process_time() - self.process_start - self.sampler_cpu
        self.database_s = sum(t - self.at_start.get(pid, 0) for pid, t in self.seen.items()) / TICKS
        self.watcher.close()

    @property
    def seconds(self) -> float:
        return self.process_s + self.database_s


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--minutes", type=int, default=60, help="minutes of passes to replay")
    args = parser.parse_args()

    database = use_benchmark_database(accounts=args.accounts, events=args.events)
    from django.db import connection, connections
    from django.utils import timezone

    from scoring.models import AccountScore
    from scoring.rescoring import rescore_accounts, rescore_all
    from scoring.starter import ensure_starter_definition

    definition = ensure_starter_definition()
    if not definition.is_active:
        from scoring.definitions import activate

        activate(definition)

    AccountScore.objects.all().delete()
    rescore_all(reason="benchmark: every result written")  # what a steady book holds
    with connection.cursor() as cursor:
        # As autovacuum would after the set-up's writes. Without it (it is
        # off on this machine) every run's deleted scores stayed in the table
        # and its indexes, and the passes' reads stepped over more of them
        # run after run.
        cursor.execute("VACUUM ANALYZE")
    connections.close_all()

    with CpuMeter(database) as full:
        rescore_all(reason="benchmark: steady full rescore")
        connections.close_all()
    before = 4 * full.seconds

    start = timezone.now()
    due_total = 0
    with CpuMeter(database) as passes:
        for minute in range(1, args.minutes + 1):
            now = start + timedelta(minutes=minute)
            due = list(
                AccountScore.objects.filter(next_change_at__lte=now).values_list("account_id", flat=True)
            )
            due_total += len(due)
            if due:
                rescore_accounts(due, now=now)
        connection.close()
    hour = 60 / args.minutes
    after = passes.seconds * hour + full.seconds / 24

    # Results computed in the replayed future would outrank real ones: start again.
    AccountScore.objects.all().delete()
    rescore_all(reason="benchmark: back to real time")

    print(
        f"database={database} full_rescore_cpu_s={full.seconds:.2f} "
        f"(process {full.process_s:.2f}, database {full.database_s:.2f}) "
        f"passes_cpu_s={passes.seconds:.2f} (process {passes.process_s:.2f}, "
        f"database {passes.database_s:.2f}) over {args.minutes} min",
        file=sys.stderr,
    )
    print(
        f"accounts={args.accounts} events={args.events} before_cpu_s_per_h={before:.1f} "
        f"after_cpu_s_per_h={after:.2f} ratio={before / after:.1f} due_per_h={due_total * hour:.0f}"
    )


if __name__ == "__main__":
    main()
