"""Benchmark: events per second through `manage.py import_events` (a gzipped
JSON Lines file in Segment's message format into PostgreSQL), against the
seed command's event rate measured in the same run on the same database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/import.py --events 200000

It creates a fresh database (<name>_import_bench), migrates it, runs
`seed_demo` with the same number of events and reads its rate, empties the
events table, writes the file (not timed: a group and an identify per
person, then the events, with a few rows repeated and a few refused as
exports have them), then times the import (no rescore). The summary's counts
must equal the file's, and the events table must hold exactly the unique
good events, or the run fails. The database is dropped at the end (--keep
keeps it).

Last line: events=N seconds=S events_per_s=R seed_events_per_s=Q ratio=X duplicates=D rejected=J
"""

import argparse
import gzip
import io
import json
import random
import re
import sys
import tempfile
import time
from contextlib import redirect_stderr
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from services import analyze, drop_database, set_up_django  # noqa: E402

EVENT_NAMES = [
    "login", "hour_logged", "invite_sent", "message_sent", "channel_created",
    "file_uploaded", "pricing_page_viewed", "usage_limit_hit", "contact_sales_clicked",
]
START = datetime(2025, 1, 1, tzinfo=UTC)


def write_history(path: Path, *, events: int, accounts: int, people: int, seed: int) -> dict:
    """The file, and what it holds: the events that must be stored, the
    rows repeated (a second copy of an earlier event) and the rows refused."""
    rng = random.Random(seed)
    counts = {"stored": 0, "duplicates": 0, "rejected": 0, "profiles": 0}
    with gzip.open(path, "wt", compresslevel=1) as out:
        for n in range(people):
            user, group_id = f"user-{n}", f"acct-{n % accounts}"
            at = (START + timedelta(minutes=n)).isoformat()
            out.write(json.dumps({"type": "group", "messageId": f"g-{n}", "userId": user, "groupId": group_id,
                                  "traits": {"name": f"Company {n % accounts}", "employees": 10 + n % 500},
                                  "timestamp": at}) + "\n")
            out.write(json.dumps({"type": "identify", "messageId": f"i-{n}", "userId": user,
                                  "traits": {"email": f"{user}@example.com", "title": "Associate"},
                                  "timestamp": at}) + "\n")
            counts["profiles"] += 2
        recent: list[str] = []
        for n in range(events):
            roll = rng.random()
            if roll < 0.005 and recent:
                out.write(rng.choice(recent))  # a row exported twice
                counts["duplicates"] += 1
                continue
            at = START + timedelta(seconds=n * 3)
            message = {
                "type": "track", "messageId": f"e-{n}", "userId": f"user-{rng.randrange(people)}",
                "event": rng.choice(EVENT_NAMES), "timestamp": at.isoformat(),
                "properties": {"plan": "trial", "n": n},
                "context": {"library": {"name": "analytics.js", "version": "2.11.1"}},
            }
            good = roll >= 0.007
            if roll < 0.006:
                message["timestamp"] = "yesterday"  # refused: not a time
            elif roll < 0.007:
                message["properties"] = [n]  # refused: not an object
            elif roll > 0.99:
                del message["messageId"]  # a warehouse row: its id is derived from it
            counts["stored" if good else "rejected"] += 1
            line = json.dumps(message) + "\n"
            out.write(line)
            if good:  # only good rows are repeated: a refused row repeated is refused again
                if len(recent) < 1000:
                    recent.append(line)
                else:
                    recent[rng.randrange(1000)] = line
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None,
                        help="validating processes (default: import_events' own, 0: validated in the importing process)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    server, database, _ = set_up_django(suffix="import_bench", redis_db=14)
    from django.core.management import call_command
    from django.db import connection

    from leads.models import Event, Source

    try:
        print(f"Seeding {args.accounts} accounts and {args.events} events for the reference rate", file=sys.stderr)
        out = io.StringIO()
        with redirect_stderr(io.StringIO()):
            call_command("seed_demo", "--accounts", str(args.accounts), "--events", str(args.events),
                         "--seed", str(args.seed), stdout=out)
        seed_rate = int(re.search(r"events_per_s=(\d+)", out.getvalue()).group(1))
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {Event._meta.db_table}")
        analyze(server, database)
        source = Source.objects.create(name="Segment export", slug="segment")

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "history.jsonl.gz"
            print(f"Writing {args.events} events to {path}", file=sys.stderr)
            expected = write_history(path, events=args.events, accounts=args.accounts, people=args.people,
                                     seed=args.seed)
            options = ["--source", source.slug, "--no-rescore"]
            if args.chunk_size:
                options += ["--chunk-size", str(args.chunk_size)]
            if args.workers is not None:
                options += ["--workers", str(args.workers)]
            print(f"Importing {path.stat().st_size / 1e6:.1f} MB", file=sys.stderr)
            out = io.StringIO()
            started = time.perf_counter()
            call_command("import_events", str(path), *options, stdout=out)
            seconds = time.perf_counter() - started
        summary = dict(re.findall(r"(\w+)=(\d+)", out.getvalue().splitlines()[-1]))
        stored_rows = Event.objects.count()
    finally:
        connection.close()
        if not args.keep:
            drop_database(server, database)

    got = {key: int(summary[key]) for key in expected}
    if got != expected or stored_rows != expected["stored"]:
        sys.exit(f"counts differ: file {expected}, summary {got}, events table {stored_rows}")
    rate = args.events / seconds
    print(
        f"events={args.events} seconds={seconds:.2f} events_per_s={int(rate)} seed_events_per_s={seed_rate} "
        f"ratio={rate / seed_rate:.2f} duplicates={expected['duplicates']} rejected={expected['rejected']}"
    )


if __name__ == "__main__":
    main()
