"""Benchmark: server time of the queue, account, team and definition pages on a large book.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
        .venv/bin/python bench/pages.py --accounts 100000 --events 5000000

Requests go through Django's full stack in process (middleware, sessions,
templates, every query), without a network in between. The definition page
is the admin's change page of a definition with 20 criteria and 8 milestones
(the builder). Last line:
queue_p95_ms=A account_p95_ms=B team_p95_ms=C definition_p95_ms=D queries_per_page=Q
"""

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from database import percentile, use_benchmark_database


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--requests", type=int, default=60, help="requests per page")
    parser.add_argument("--pages", default="queue,account,team,definition", help="which pages, comma-separated")
    args = parser.parse_args()

    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    use_benchmark_database(accounts=args.accounts, events=args.events)

    from django.conf import settings
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from leads.demo import ensure_routing
    from leads.models import Account, LeadStatus, SalesRep
    from leads.routing import assign_new_pqls
    from scoring.models import AccountScore
    from scoring.rescoring import rescore_all
    from scoring.starter import ensure_starter_definition

    settings.STORAGES["staticfiles"] = {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
    }
    ensure_starter_definition()
    ensure_routing()
    if not AccountScore.objects.exists():
        rescore_all(reason="benchmark set-up")
    waiting = Account.objects.filter(status=LeadStatus.PQL, owner__isnull=True).values_list("pk", flat=True)
    assign_new_pqls(list(waiting))
    with connection.cursor() as cursor:
        # As autovacuum would after the set-up's writes (and after another
        # benchmark's rescores of the same book): statistics, and the
        # visibility map that lets counts read an index alone.
        cursor.execute("VACUUM ANALYZE")

    busiest_rep = (
        SalesRep.objects.annotate(n=Count("accounts")).order_by("-n").select_related("user").first()
    )
    rep_accounts = list(
        Account.objects.filter(owner=busiest_rep).annotate(n=Count("events")).order_by("-n").values_list("pk", flat=True)
    )
    manager = manager_user()
    rep_client, manager_client = Client(), Client()
    rep_client.force_login(busiest_rep.user)
    manager_client.force_login(manager)

    rng = random.Random(3)
    definition_url = f"/admin/scoring/definition/{builder_definition().pk}/change/"
    pages = {
        "queue": lambda: rep_client.get("/queue/"),
        "account": lambda: rep_client.get(f"/accounts/{rng.choice(rep_accounts[:20])}/"),
        "team": lambda: manager_client.get("/team/"),
        "definition": lambda: manager_client.get(definition_url),
    }
    chosen = args.pages.split(",")
    pages = {name: fetch for name, fetch in pages.items() if name in chosen}
    timings, cpu, queries = {}, {}, {}
    for name, fetch in pages.items():
        assert fetch().status_code == 200, name  # warm up
        timings[name], cpu[name] = [], []
        for _ in range(args.requests):
            with CaptureQueriesContext(connection) as captured:
                started, started_cpu = time.perf_counter(), time.process_time()
                response = fetch()
                timings[name].append((time.perf_counter() - started) * 1000)
                cpu[name].append((time.process_time() - started_cpu) * 1000)
            assert response.status_code == 200, name
            queries[name] = max(queries.get(name, 0), len(captured.captured_queries))

    print(
        f"rep={busiest_rep} accounts_owned={len(rep_accounts)} "
        + " ".join(f"{name}_p50_ms={percentile(t, 0.5):.1f}" for name, t in timings.items())
        + " "
        # The process's own CPU time: what a page costs when the machine is shared.
        + " ".join(f"{name}_cpu_p50_ms={percentile(t, 0.5):.1f}" for name, t in cpu.items())
        + " "
        + " ".join(f"{name}_queries={n}" for name, n in queries.items()),
        file=sys.stderr,
    )
    print(
        " ".join(f"{name}_p95_ms={percentile(t, 0.95):.1f}" for name, t in timings.items())
        + f" queries_per_page={max(queries.values())}"
    )


def builder_definition():
    """A draft definition the size the builder is held to: 20 criteria (half
    attribute tests, half event counts) and 8 milestones."""
    from scoring.definitions import create_definition
    from scoring.models import Definition

    name = "Benchmark: 20 criteria, 8 milestones"
    return Definition.objects.filter(name=name).first() or create_definition(
        name=name,
        score_threshold=40,
        criteria=[
            dict(label=f"Criterion {n}", points=5, event_name="login", operator="gte", value=str(n))
            if n % 2
            else dict(label=f"Criterion {n}", points=5, kind="attribute", field="industry",
                      operator="in", value="legal, retail")
            for n in range(20)
        ],
        milestones=[dict(label=f"Step {n}", event_name="invite_sent", min_count=n + 1) for n in range(8)],
    )


def manager_user():
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(
        username="bench-manager", defaults={"is_superuser": True, "is_staff": True}
    )
    return user


if __name__ == "__main__":
    main()
