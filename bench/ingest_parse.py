"""Benchmark: the CPU one /v1/batch body costs before any SQL: parsing its
JSON (with the checks on what may be stored) and validating its messages,
for the 100-track batches bench/ingest.py sends.

    .venv/bin/python bench/ingest_parse.py --repeat 2000

Last line: json_ms=A messages_ms=B total_ms=C (the median of --repeat runs, per batch)
"""

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100, help="messages per body")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pqlsite.settings")
    import django

    django.setup()
    from ingest import track_batches

    from leads.ingest.messages import parse_batch
    from leads.ingest.views import parse_json

    bodies, _ = track_batches(args.batch, batch=args.batch, people=100)
    body = bodies[0]
    received_at = datetime.now(UTC)
    json_times, message_times = [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        payload = parse_json(body)
        parsed = time.perf_counter()
        parse_batch(payload, received_at=received_at, body_size=len(body))
        done = time.perf_counter()
        json_times.append(parsed - started)
        message_times.append(done - parsed)
    json_ms = statistics.median(json_times) * 1000
    messages_ms = statistics.median(message_times) * 1000
    print(f"body_bytes={len(body)} messages={args.batch} repeat={args.repeat}")
    print(f"json_ms={json_ms:.3f} messages_ms={messages_ms:.3f} total_ms={json_ms + messages_ms:.3f}")


if __name__ == "__main__":
    main()
