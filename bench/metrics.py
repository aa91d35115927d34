"""Benchmark: the metrics page and a criteria lab run on a large book.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
        .venv/bin/python bench/metrics.py --accounts 100000 --events 5000000

The page goes through Django's full stack in process (sessions, templates,
every query) for the default period (the last twelve weeks, whose signups are
most of the book). The lab run is the whole job for a draft of the starter
definition, timed step by step. Last line:
metrics_p95_ms=A report_p50_ms=B queries_per_page=Q lab_s=C
"""

import argparse
import os
import sys
import time
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from database import percentile, use_benchmark_database


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--requests", type=int, default=20, help="page requests")
    parser.add_argument("--no-lab", action="store_true", help="time the metrics page only")
    args = parser.parse_args()

    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    use_benchmark_database(accounts=args.accounts, events=args.events)

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from leads.models import Account
    from scoring.lab.runs import compute
    from scoring.metrics import Period, build_report
    from scoring.models import AccountScore, Definition
    from scoring.rescoring import rescore_all
    from scoring.starter import ensure_starter_definition

    settings.STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    starter = ensure_starter_definition()
    if not AccountScore.objects.exists():
        rescore_all(reason="benchmark set-up")

    period = Period.default(today=Account.objects.latest("signed_up_at").signed_up_at.date())
    report_ms = []
    for _ in range(5):
        started = time.perf_counter()
        report = build_report(period)
        report_ms.append((time.perf_counter() - started) * 1000)
    print(
        f"period={period.start}..{period.end} signups={report.totals.signups} pqls={report.totals.pqls}",
        file=sys.stderr,
    )

    manager, _ = get_user_model().objects.get_or_create(
        username="bench-manager", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(manager)
    query = {"start": period.start.isoformat(), "end": period.end.isoformat()}
    assert client.get("/metrics/", query).status_code == 200  # warm up
    page_ms, queries = [], 0
    for _ in range(args.requests):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get("/metrics/", query)
            page_ms.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        queries = max(queries, len(captured.captured_queries))

    lab_s = "skipped"
    if not args.no_lab:
        draft, _ = Definition.objects.get_or_create(
            name="Benchmark draft", defaults={"score_threshold": starter.score_threshold - 10}
        )
        if not draft.criteria.exists():
            for criterion in starter.criteria.all():
                criterion.pk, criterion.definition = None, draft
                criterion.save()
        steps = []
        started = time.perf_counter()
        compute(draft, progress=lambda percent, step: steps.append((time.perf_counter(), step)))
        finished = time.perf_counter()
        marks = [*steps, (finished, "done")]
        print(
            " ".join(
                f"[{step}: {later - at:.2f}s]" for (at, step), (later, _) in pairwise(marks)
            ),
            file=sys.stderr,
        )
        lab_s = f"{finished - started:.2f}"

    print(
        f"metrics_p95_ms={percentile(page_ms, 0.95):.1f} report_p50_ms={percentile(report_ms, 0.5):.1f} "
        f"queries_per_page={queries} lab_s={lab_s}"
    )


if __name__ == "__main__":
    main()
