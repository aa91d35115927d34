"""Shared set-up for the benchmarks: a PostgreSQL database seeded with the
requested book, created when the configured one already holds other data."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def use_benchmark_database(*, accounts: int, events: int) -> str:
    """Point Django at a database holding exactly this book; returns its name.

    The database in DATABASE_URL is used when it is empty. Otherwise a
    database named after it and the book (e.g. test_bench_100000_5000000) is
    used, created and seeded once, and reused by later runs of the same size.
    """
    import psycopg

    server, name, url = server_config()
    if _has_other_data(server, name, accounts=accounts, events=events):
        name = f"{name}_bench_{accounts}_{events}"
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                admin.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url.rsplit("/", 1)[0] + "/" + name
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pqlsite.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    _migrate_and_seed(accounts=accounts, events=events)
    return name


def server_config() -> tuple[dict, str, str]:
    """The PostgreSQL server and database of DATABASE_URL (required), and the URL."""
    import environ

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/test")
    config = environ.Env.db_url_config(url)
    server = dict(
        host=config["HOST"] or None,
        port=config["PORT"] or None,
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
    )
    return server, config["NAME"], url


def _has_other_data(server, name, *, accounts, events) -> bool:
    import psycopg

    with psycopg.connect(dbname=name, **server) as connection:
        if not connection.execute("SELECT to_regclass('leads_account')").fetchone()[0]:
            return False
        have = connection.execute("SELECT count(*) FROM leads_account").fetchone()[0]
        if have == 0:
            return False
        have_events = connection.execute("SELECT count(*) FROM leads_event").fetchone()[0]
        return (have, have_events) != (accounts, events)


def _migrate_and_seed(*, accounts: int, events: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from leads.models import Account, Event

    call_command("migrate", verbosity=0)
    if Account.objects.count() == accounts and Event.objects.count() == events:
        print(f"Reusing the seeded book: accounts={accounts} events={events}", file=sys.stderr)
        return
    if Account.objects.exists():
        sys.exit("The benchmark database holds a different book; drop it and run again.")
    call_command(
        "seed_demo",
        accounts=accounts,
        events=events,
        days=120,
        seed=42,
        stdout=sys.stderr,
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]
