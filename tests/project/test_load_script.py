"""The load test script runs end to end (gunicorn, PostgreSQL, an RQ worker)
and its checks pass: a short run, so that the script keeps working."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_a_short_load_run_loses_nothing_and_rescores_every_account():
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs Redis: set REDIS_URL")
    result = subprocess.run(
        [sys.executable, "bench/load.py", "--seconds", "3", "--clients", "2", "--workers", "1",
         "--accounts", "20", "--people", "60", "--resend", "0.3", "--drain-seconds", "120"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    figures = dict(pair.split("=") for pair in last.split())
    assert list(figures) == ["sent", "accepted", "stored", "duplicates", "errors_5xx", "p50_ms", "p99_ms", "eps"]
    assert int(figures["errors_5xx"]) == 0
    assert int(figures["duplicates"]) > 0  # some batches were resent...
    assert int(figures["stored"]) == int(figures["accepted"]) - int(figures["duplicates"])  # ...and stored once
    assert re.search(r"stale=0 duplicate_transitions=0", result.stderr)
