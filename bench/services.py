"""The services a benchmark runs against: a fresh PostgreSQL database, a
Redis database of its own, gunicorn on a free port; and the HTTP calls the
ingest benchmarks share."""

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from database import server_config

ROOT = Path(__file__).resolve().parent.parent
SETUP_BATCH = 500


def database_url(name: str) -> str:
    return server_config()[2].rsplit("/", 1)[0] + "/" + name


def create_database(suffix: str) -> tuple[dict, str]:
    import psycopg

    server, name, _ = server_config()
    database = f"{name}_{suffix}"
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        admin.execute(f'CREATE DATABASE "{database}"')
    return server, database


def analyze(server: dict, database: str) -> None:
    """Statistics for the fresh tables, as a database in use has them."""
    import psycopg

    with psycopg.connect(dbname=database, autocommit=True, **server) as connection:
        connection.execute("VACUUM ANALYZE")


def drop_database(server: dict, database: str) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def bench_redis_url(db: int) -> str:
    base = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    return base.rsplit("/", 1)[0] + f"/{db}" if base.count("/") >= 3 else base.rstrip("/") + f"/{db}"


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(*, port: int, workers: int, database: str, redis_url: str) -> subprocess.Popen:
    """gunicorn in its own process group, throttling lifted."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(database),
        "REDIS_URL": redis_url,
        "INGEST_THROTTLE": "1000000/second",
        "LOG_LEVEL": "WARNING",
        "DEBUG": "false",
    }
    return subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "gunicorn", "pqlsite.wsgi", "-w", str(workers),
         "-b", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )


def wait_for(port: int, *, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/v1/batch")
            if connection.getresponse().status == 405:
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"gunicorn did not answer on port {port} within {seconds} s")


def stop(process: subprocess.Popen) -> None:
    """Stop gunicorn and its workers (its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def post(port: int, auth: str, body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST", "/v1/batch", body=body,
            headers={"Authorization": auth, "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        connection.close()


def set_up_people(port: int, auth: str, *, accounts: int, people: int) -> None:
    """identify and group every person through the API (not timed)."""
    now = datetime.now(UTC).isoformat()
    messages = []
    for i in range(people):
        user = f"user-{i}"
        messages.append({"type": "identify", "messageId": f"identify-{i}", "userId": user,
                         "timestamp": now, "traits": {"email": f"{user}@example.com", "title": "Associate"}})
        account = i % accounts
        messages.append({"type": "group", "messageId": f"group-{i}", "userId": user,
                         "groupId": f"acct-{account}", "timestamp": now,
                         "traits": {"name": f"Account {account}", "employees": 10 + account}})
    for start in range(0, len(messages), SETUP_BATCH):
        body = json.dumps({"batch": messages[start : start + SETUP_BATCH], "sentAt": now}).encode()
        status = post(port, auth, body)
        if status != 200:
            sys.exit(f"setting up people failed with HTTP {status}")


def set_up_django(*, suffix: str, redis_db: int) -> tuple[dict, str, str]:
    """A fresh, migrated database and an empty Redis database, and Django set
    up on them in this process; returns the server, database and Redis URL."""
    server, database = create_database(suffix)
    redis_url = bench_redis_url(redis_db)
    flush_redis(redis_url)
    os.environ["DATABASE_URL"] = database_url(database)
    os.environ["REDIS_URL"] = redis_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pqlsite.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return server, database, redis_url


def basic_auth(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def start_worker(*, database: str, redis_url: str, queues=("scoring",)) -> subprocess.Popen:
    """`manage.py rqworker <queues>` with its scheduler (for retries), in its own process group."""
    env = {**os.environ, "DATABASE_URL": database_url(database), "REDIS_URL": redis_url}
    return subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "manage.py", "rqworker", *queues, "--with-scheduler", "--verbosity", "0"],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=None if os.environ.get("BENCH_WORKER_LOG") else subprocess.DEVNULL,
    )
