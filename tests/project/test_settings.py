"""Settings come from the environment; production values pass check --deploy."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k3y-" + "x9Qz" * 16,
    "ALLOWED_HOSTS": "pql.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_production_settings_pass_the_deploy_check():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
def test_the_development_defaults_fail_the_deploy_check():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env={})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr + result.stdout


@pytest.mark.slow
def test_database_and_queues_come_from_the_environment():
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'],"
        " s.RQ_QUEUES['default']['URL'], s.RQ_QUEUES['default']['ASYNC'])"
    )
    result = manage("shell", "-v", "0", "-c", code, env=PRODUCTION)
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "test",
        "redis://127.0.0.1:6379/0",
        "True",
    ]

    # Unset or empty (`DATABASE_URL= make run`): the zero-set-up SQLite file.
    for unset in ({}, {"DATABASE_URL": ""}):
        result = manage("shell", "-v", "0", "-c", code, env=unset)
        engine, name, _url, is_async = result.stdout.split()
        assert engine == "django.db.backends.sqlite3"
        assert name.endswith("db.sqlite3")
        assert is_async == "False"


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_prepares_the_statements_a_process_repeats():
    """Django prepares none unless prepare_threshold is set; the ingest path
    repeats the same statements every batch."""
    from django.db import connection

    with connection.cursor() as cursor:
        for _ in range(6):
            cursor.execute("SELECT count(*) FROM leads_source WHERE slug = %s", ["product"])
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("leads_source WHERE slug = $1" in statement for statement in prepared)
