"""Importing event history from files: JSON Lines in Segment's message format
and CSV with a column mapping, gzipped or not. Exactly the good rows are
stored, once (within a file, across imports, against live events); each bad
row is reported with its line; an import killed mid-file and run again
stores each row once; the import ends with one full rescore."""

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from leads.ingest.history import store
from leads.models import Account, Event, ImportedChunk, LeadStatus, Person, Source, StatusChange
from leads.services import NewEvent
from scoring.definitions import create_definition
from scoring.models import ScoringRun

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def queues(inline_queues):
    """Rescores run inline."""


@pytest.fixture
def source():
    return Source.objects.create(name="Product", slug="product")


def track(message_id, *, user="u1", event="login", at="2025-03-02T10:00:00Z", **fields):
    message = {"type": "track", "userId": user, "event": event, "timestamp": at, **fields}
    if message_id is not None:
        message["messageId"] = message_id
    return message


def write_jsonl(path: Path, rows: list) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def run_import(*args) -> str:
    out = StringIO()
    call_command("import_events", *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue()


GOOD = [
    # line 1, 2: the account and its person
    {"type": "group", "messageId": "g1", "userId": "u1", "groupId": "acct_harbor",
     "traits": {"name": "Harbor Legal", "employees": 45}, "timestamp": "2025-03-01T09:00:00Z"},
    {"type": "identify", "messageId": "i1", "userId": "u1", "traits": {"title": "Associate"},
     "timestamp": "2025-03-01T09:00:00Z"},
    track("t1"),  # line 3
    track("t2", event="hour_logged", properties={"hours": 2}),  # line 4
    {"type": "page", "messageId": "p1", "userId": "u1", "name": "Pricing",
     "timestamp": "2025-03-03T10:00:00Z"},  # line 5
    track(None, event="invite_sent", properties={"to": "kim"}),  # line 6: no messageId
]


def history_file(tmp_path, name="history.jsonl"):
    rows = [
        *GOOD,
        track("t1"),  # line 7: the same messageId again in the file
        track(None, event="invite_sent", properties={"to": "kim"}),  # line 8: the same row again, no id
        track("live-1"),  # line 9: already received live
        track("bad-time", at="last tuesday"),  # line 10
        {"type": "track", "messageId": "no-user", "event": "login", "timestamp": "2025-03-02T10:00:00Z"},  # 11
        track("long-name", event="x" * 201),  # line 12
        track("list-props", properties=[1, 2]),  # line 13
        "{not json",  # line 14
        track("no-time", at=None),  # line 15
    ]
    return write_jsonl(tmp_path / name, rows)


def test_a_jsonl_file_stores_the_good_rows_once_and_reports_each_bad_row_by_line(tmp_path, source, client):
    # The live event, through /v1/batch, before the import.
    live = {"batch": [GOOD[0], track("live-1")]}
    response = client.post("/v1/batch", json.dumps(live), content_type="application/json",
                           HTTP_AUTHORIZATION=basic(source.write_key))
    assert response.status_code == 200
    path = history_file(tmp_path)

    out = run_import(path, "--source", "product")

    stored = set(Event.objects.values_list("name", flat=True))
    assert Event.objects.count() == 5  # live-1, t1, t2, the pricing page and the invite
    assert stored == {"login", "hour_logged", "pricing_page_viewed", "invite_sent"}
    assert Event.objects.filter(message_id="live-1").count() == 1
    invite = Event.objects.get(name="invite_sent")
    assert invite.message_id.startswith("row-") and invite.properties == {"to": "kim"}
    assert invite.occurred_at.isoformat() == "2025-03-02T10:00:00+00:00"  # its own time, not now
    assert Person.objects.get().title == "Associate"
    assert Account.objects.get().last_event_at.isoformat() == "2025-03-03T10:00:00+00:00"

    rejects = [json.loads(line) for line in (tmp_path / "history.jsonl.rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["errors"]) for r in rejects] == [
        (10, ["timestamp: must be an ISO 8601 date-time, e.g. 2025-01-31T12:00:00Z"]),
        (11, ["userId: userId or anonymousId required for track"]),
        (12, ["event: at most 200 characters"]),
        (13, ["properties: must be a JSON object"]),
        (14, [rejects[4]["errors"][0]]),
        (15, ["timestamp: required: the time it happened"]),
    ]
    assert rejects[4]["errors"][0].startswith("row: not valid JSON")
    assert json.loads(rejects[0]["row"])["messageId"] == "bad-time"
    assert "line 12: event: at most 200 characters" in out
    assert out.splitlines()[-1] == "read=15 stored=4 pending=0 profiles=2 duplicates=3 rejected=6"


def test_importing_the_same_file_again_stores_nothing_twice(tmp_path, source):
    path = history_file(tmp_path)
    run_import(path, "--source", "product")
    first = sorted(Event.objects.values_list("message_id", flat=True))

    # A copy elsewhere with other options is another import: only dedupe stands in the way.
    copy = write_jsonl(tmp_path / "copy.jsonl.gz", json.loads("[" + ",".join(
        line for line in path.read_text().splitlines() if line.startswith("{\"")) + "]"))
    out = run_import(copy, "--source", "product", "--chunk-size", "3")

    assert sorted(Event.objects.values_list("message_id", flat=True)) == first
    assert "stored=0" in out.splitlines()[-1]
    # The 5 events stored (live-1 included: no live call here), and the 2 repeats within the file.
    assert "duplicates=7" in out.splitlines()[-1]


def test_the_same_file_run_again_skips_its_chunks_and_reports_the_same_counts(tmp_path, source):
    path = history_file(tmp_path)
    first = run_import(path, "--source", "product", "--chunk-size", "4").splitlines()[-1]
    chunks = ImportedChunk.objects.count()

    again = run_import(path, "--source", "product", "--chunk-size", "4")

    assert ImportedChunk.objects.count() == chunks == 4
    assert again.splitlines()[-1] == first
    assert (tmp_path / "history.jsonl.rejects.jsonl").read_text().count("\n") == 6


CSV = """uid,org,name,ts,plan_seen,props
u1,acct_harbor,login,2025-03-02T10:00:00Z,,"{""seats"": 3}"
u1,acct_harbor,login,2025-03-02T10:00:00Z,,"{""seats"": 3}"
u1,acct_harbor,hour_logged,2025-03-02 11:00:00,trial,
u1,acct_harbor,login,yesterday,,
,acct_harbor,login,2025-03-02T10:00:00Z,,
u1,acct_harbor,login,2025-03-02T12:00:00Z,,"[1, 2]"
u1,acct_harbor,{long},2025-03-02T12:00:00Z,,
u1,acct_harbor,"multi
line",2025-03-02T13:00:00Z,,
""".replace("{long}", "y" * 201)


def test_a_csv_file_with_a_mapping_stores_the_good_rows_once(tmp_path, source):
    account = Account.objects.create(name="Harbor", external_id="acct_harbor")
    person = Person.objects.create(external_id="u1", account=account)
    path = tmp_path / "events.csv.gz"
    path.write_bytes(gzip.compress(CSV.encode()))

    out = run_import(path, "--source", "product", "--map", "user_id=uid", "--map", "account_id=org",
                     "--map", "event=name", "--map", "timestamp=ts", "--properties", "json:props")

    events = list(Event.objects.order_by("occurred_at").values_list("name", "properties", "person", "account"))
    assert events == [
        ("login", {"seats": 3}, person.pk, account.pk),
        ("hour_logged", {}, person.pk, account.pk),
        ("multi\nline", {}, person.pk, account.pk),
    ]
    rejects = [json.loads(line) for line in (tmp_path / "events.csv.gz.rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["errors"][0].split(":")[0]) for r in rejects] == [
        (5, "timestamp"), (6, "userId"), (7, "properties"), (8, "event"),
    ]
    assert out.splitlines()[-1] == "read=8 stored=3 pending=0 profiles=0 duplicates=1 rejected=4"


def test_csv_extra_columns_become_properties(tmp_path, source):
    account = Account.objects.create(name="Harbor", external_id="acct_harbor")
    Person.objects.create(external_id="u1", account=account)
    path = tmp_path / "events.csv"
    path.write_text("user_id,account_id,event,timestamp,plan,seats\nu1,acct_harbor,login,2025-03-02T10:00:00Z,trial,3\n")

    run_import(path, "--source", "product")

    assert Event.objects.get().properties == {"plan": "trial", "seats": "3"}


def test_a_mapping_that_does_not_fit_the_header_is_refused(tmp_path, source):
    path = tmp_path / "events.csv"
    path.write_text("user_id,event,timestamp\n")
    with pytest.raises(CommandError, match="--map account_id=org: no such column"):
        run_import(path, "--source", "product", "--map", "account_id=org")
    with pytest.raises(CommandError, match="No source 'nope'"):
        run_import(path, "--source", "nope")


def test_the_import_ends_with_one_full_rescore_that_routes_only_accounts_without_an_outcome(
    tmp_path, source, ten_logins
):
    rows = []
    for n, group_id in enumerate(["acct_open", "acct_won"]):
        rows += [{"type": "group", "messageId": f"g{n}", "userId": f"u{n}", "groupId": group_id,
                  "timestamp": "2025-03-01T09:00:00Z"}]
        rows += [track(f"{group_id}-{i}", user=f"u{n}") for i in range(10)]
    path = write_jsonl(tmp_path / "two.jsonl", rows)
    # The converted account is known, with its outcome, before its events arrive.
    won = Account.objects.create(name="Won", external_id="acct_won", status=LeadStatus.CONVERTED)

    run_import(path, "--source", "product", "--chunk-size", "5")

    assert ScoringRun.objects.count() == 1  # one full rescore, not one per chunk (5 chunks)
    opened = Account.objects.get(external_id="acct_open")
    assert opened.status == LeadStatus.PQL and opened.score.qualifies
    won.refresh_from_db()
    assert won.status == LeadStatus.CONVERTED and won.score.qualifies
    assert not StatusChange.objects.filter(account=won).exists()


def basic(write_key: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def test_an_import_killed_mid_file_and_run_again_stores_each_row_once(tmp_path, source):
    rows = [{"type": "group", "messageId": "g", "userId": "u1", "groupId": "acct_harbor",
             "timestamp": "2025-03-01T09:00:00Z"}]
    rows += [track(f"t{n}" if n % 2 else None, at=f"2025-03-02T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
                   properties={"n": n}) for n in range(6000)]
    path = write_jsonl(tmp_path / "big.jsonl.gz", rows)
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(ROOT / "manage.py"), "import_events", str(path), "--source", "product",
               "--chunk-size", "200", "--no-rescore"]

    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while ImportedChunk.objects.count() < 3:
        assert process.poll() is None, "the import finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = ImportedChunk.objects.count()
    assert 3 <= done_before < 31
    assert Event.objects.count() == 200 * done_before - 1  # whole chunks only (the first holds the group)

    finished = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert finished.returncode == 0, finished.stderr
    assert Event.objects.count() == 6000
    assert Event.objects.values("message_id").distinct().count() == 6000
    assert ImportedChunk.objects.count() == 31
    assert finished.stdout.splitlines()[-1] == "read=6001 stored=6000 pending=0 profiles=1 duplicates=0 rejected=0"


def database_url() -> str:
    """The test database, for a process of its own."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


assert settings  # the settings module is configured for the subprocess above


def test_rows_the_database_cannot_store_are_refused_not_fatal(tmp_path, source):
    path = write_jsonl(tmp_path / "odd.jsonl", [
        GOOD[0],
        '{"type":"track","messageId":"s","userId":"u1","event":"\\ud800","timestamp":"2025-03-02T10:00:00Z"}',
        '{"type":"track","messageId":"z","userId":"u1","event":"e\\u0000","timestamp":"2025-03-02T10:00:00Z"}',
        '{"type":"track","messageId":"d","userId":"u1","event":"e","timestamp":"2025-03-02T10:00:00Z",'
        '"properties":{"a":' + "[" * 6000 + "]" * 6000 + "}}",
        '{"type":"track","messageId":"ok","userId":"u1","event":"\\ud83d\\ude00","timestamp":"2025-03-02T10:00:00Z"}',
        "\ufeff not json",
    ])

    out = run_import(path, "--source", "product")

    assert list(Event.objects.values_list("message_id", "name")) == [("ok", "\U0001f600")]
    assert out.splitlines()[-1].endswith("stored=1 pending=0 profiles=1 duplicates=0 rejected=4")


def test_validating_in_a_process_of_its_own_stores_the_same(tmp_path, source):
    path = history_file(tmp_path)

    out = run_import(path, "--source", "product", "--chunk-size", "4", "--workers", "1")

    assert out.splitlines()[-1] == "read=15 stored=5 pending=0 profiles=2 duplicates=2 rejected=6"
    assert Event.objects.count() == 5


def test_an_event_stored_live_during_the_copy_is_skipped_not_fatal(source, monkeypatch):
    account = Account.objects.create(name="Harbor", external_id="acct_harbor")
    at = timezone.now()
    Event.objects.create(account=account, name="login", occurred_at=at, source="product", message_id="live-1")
    events = [NewEvent(account_id=account.pk, name="login", occurred_at=at, message_id=message_id, source="product")
              for message_id in ("live-1", "new-1")]
    # As if a live request stored live-1 between the lookup and the COPY.
    monkeypatch.setattr(store, "already_stored", lambda events: set())

    with transaction.atomic():
        recorded = store.copy_events(events)

    assert (recorded.stored, recorded.duplicates, recorded.account_ids) == (1, 1, [account.pk])
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["live-1", "new-1"]


def test_the_full_rescore_after_an_import_sets_when_time_alone_changes_the_score(tmp_path, source):
    create_definition(
        name="Recent logins", is_active=True, score_threshold=100,
        criteria=[dict(label="Logged in lately", role="trigger", event_name="login", operator="gte", value="1",
                       window="last_days", window_days=14)],
    )
    logged_in = (timezone.now() - timedelta(days=3)).replace(microsecond=0)
    path = write_jsonl(tmp_path / "recent.jsonl", [
        {"type": "group", "messageId": "g", "userId": "u1", "groupId": "acct_harbor",
         "timestamp": "2025-03-01T09:00:00Z"},
        track("t1", at=logged_in.isoformat()),
    ])

    run_import(path, "--source", "product")

    score = Account.objects.get().score
    assert score.qualifies
    assert score.next_change_at == logged_in + timedelta(days=14)  # when the login leaves the window
