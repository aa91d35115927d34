"""Rescores grow with distinct accounts, not batches; hand-raises go first;
several workers share the work without scoring an account twice at once or
recording a status change twice."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from rq import SimpleWorker

from leads.models import Account, Event, LeadStatus, StatusChange
from leads.services import NewEvent
from leads.services import record_events as store_events
from scoring import jobs, rescoring
from scoring.definitions import create_definition

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def run_worker():
    queue = jobs.scoring_queue()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def waiting(redis, key) -> list[int]:
    return [int(i) for i in redis.zrange(key, 0, -1)]


@pytest.fixture
def hand_raise_definition():
    """Asking for sales qualifies at once (a trigger); logins add points."""
    return create_definition(
        name="Sales-ready",
        is_active=True,
        score_threshold=10,
        criteria=[
            dict(label="Asked for sales", role="trigger", event_name="contact_sales_clicked",
                 operator="gte", value="1"),
            dict(label="Logged in", points=10, event_name="login", operator="gte", value="1"),
        ],
    )


def record_events(events):
    """As ingestion does: store the events, then ask for their accounts' rescores."""
    recorded = store_events(events)
    jobs.request_rescore(
        recorded.account_ids, hand_raised=jobs.hand_raisers((e.account_id, e.name) for e in events)
    )
    return recorded


def events(account_ids, name, *, prefix):
    now = time.time()
    from django.utils import timezone

    return [
        NewEvent(account_id=i, name=name, occurred_at=timezone.now(), message_id=f"{prefix}-{i}-{now}")
        for i in account_ids
    ]


# A batch lost in a thread (a deadlock between batches) must fail the test, not
# shrink the set of accounts it checks.
@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_concurrent_batches_coalesce_into_one_waiting_job_and_each_account_once(
    redis_queues, hand_raise_definition
):
    accounts = [Account.objects.create(name=f"Co {i}").pk for i in range(40)]

    def batch(number):
        # Overlapping accounts, as batches of many clients are.
        ids = accounts[(number * 7) % 40 :][:20] + accounts[: number % 5]
        record_events(events(ids, "login", prefix=f"b{number}"))
        connection.close()

    threads = [threading.Thread(target=batch, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    queue = jobs.scoring_queue()
    touched = set(Event.objects.values_list("account_id", flat=True))
    drains = [job for job in queue.get_jobs() if job.func_name == "scoring.jobs.drain_job"]
    assert len(drains) == 1  # twelve batches, one job
    assert set(waiting(redis_queues, jobs.ROUTINE)) == touched

    scored = []
    real = rescoring.rescore_accounts

    def counting(ids, **kwargs):
        scored.extend(ids)
        return real(ids, **kwargs)

    rescoring.rescore_accounts = counting
    try:
        run_worker()
    finally:
        rescoring.rescore_accounts = real
    assert sorted(scored) == sorted(touched)  # each account once, in one job
    assert Account.objects.filter(pk__in=touched, status=LeadStatus.PQL).count() == len(touched)
    assert not redis_queues.exists(jobs.ROUTINE, jobs.URGENT, jobs.LEASES)


def test_a_long_backlog_is_scored_in_few_jobs_not_one_per_batch(
    redis_queues, hand_raise_definition, django_capture_on_commit_callbacks
):
    accounts = [Account.objects.create(name=f"Co {i}").pk for i in range(30)]
    for number in range(30):
        with django_capture_on_commit_callbacks(execute=True):
            record_events(events(accounts[number:] + accounts[:number][:3], "login", prefix=f"{number}"))
    assert jobs.scoring_queue().count == 1

    drained = jobs.drain(slice_size=10)
    assert drained.sizes == [10, 10, 10]
    assert drained.scored == 30


def test_hand_raises_are_scored_before_routine_work_waiting_ahead_of_them(
    redis_queues, hand_raise_definition, django_capture_on_commit_callbacks
):
    routine = [Account.objects.create(name=f"Busy {i}").pk for i in range(6)]
    raiser = Account.objects.create(name="Raiser").pk
    with django_capture_on_commit_callbacks(execute=True):
        record_events(events(routine, "login", prefix="busy"))
    with django_capture_on_commit_callbacks(execute=True):
        record_events(events([raiser], "contact_sales_clicked", prefix="hand"))
    assert waiting(redis_queues, jobs.URGENT) == [raiser]
    assert raiser not in waiting(redis_queues, jobs.ROUTINE)

    order = []
    real = rescoring.rescore_accounts
    rescoring.rescore_accounts = lambda ids, **kwargs: (order.append(sorted(ids)), real(ids, **kwargs))[1]
    try:
        jobs.drain(slice_size=2)
    finally:
        rescoring.rescore_accounts = real
    assert order[0] == [raiser]
    assert sorted(i for chunk in order[1:] for i in chunk) == routine


def test_a_hand_raise_arriving_mid_drain_waits_for_one_slice_at_most(
    redis_queues, hand_raise_definition, django_capture_on_commit_callbacks
):
    routine = [Account.objects.create(name=f"Busy {i}").pk for i in range(6)]
    raiser = Account.objects.create(name="Raiser").pk
    with django_capture_on_commit_callbacks(execute=True):
        record_events(events(routine, "login", prefix="busy"))

    order = []
    real = rescoring.rescore_accounts

    def scoring(ids, **kwargs):
        order.append(sorted(ids))
        if len(order) == 1:  # the hand-raise arrives while the first slice is scored
            jobs.enqueue_rescore([], urgent=[raiser])
        return real(ids, **kwargs)

    rescoring.rescore_accounts = scoring
    try:
        jobs.drain(slice_size=2)
    finally:
        rescoring.rescore_accounts = real
    assert order[1] == [raiser]
    assert Account.objects.get(pk=raiser).status == LeadStatus.SIGNED_UP  # no event: nothing to qualify


def test_a_hand_raise_job_goes_to_the_front_of_the_queue(redis_queues, hand_raise_definition):
    queue = jobs.scoring_queue()
    jobs.enqueue_full_rescore("a long one")
    raiser = Account.objects.create(name="Raiser").pk
    jobs.enqueue_rescore([], urgent=[raiser])
    assert [job.func_name for job in queue.jobs] == ["scoring.jobs.drain_job", "scoring.jobs.rescore_all_job"]


def test_an_account_leased_by_one_job_is_not_taken_by_another_until_the_lease_ends(
    redis_queues, settings
):
    redis_queues.zadd(jobs.ROUTINE, {"1": 1.0, "2": 2.0})
    taken, _ = jobs.take(redis_queues, jobs.ROUTINE, token="first", limit=10)
    assert taken == [1, 2]
    # New events for account 1 while the first job scores it.
    redis_queues.zadd(jobs.ROUTINE, {"1": 3.0, "3": 3.0})
    taken, _ = jobs.take(redis_queues, jobs.ROUTINE, token="second", limit=10)
    assert taken == [3]
    assert waiting(redis_queues, jobs.ROUTINE) == [1]

    # A dead job's lease ends; then another job takes its accounts.
    settings.SCORING_LEASE_SECONDS = -1
    redis_queues.hset(jobs.LEASES, "1", f"{time.time() - 1}:first")
    taken, _ = jobs.take(redis_queues, jobs.ROUTINE, token="third", limit=10)
    assert taken == [1]


def test_a_job_releases_only_its_own_leases(redis_queues):
    redis_queues.hset(jobs.LEASES, mapping={"1": "9e12:mine", "2": "9e12:theirs"})
    jobs.script(redis_queues, jobs.RELEASE)(keys=[jobs.LEASES], args=["mine", 1, 2])
    assert redis_queues.hgetall(jobs.LEASES) == {b"2": b"9e12:theirs"}


def test_events_that_cannot_fire_a_trigger_are_routine(hand_raise_definition):
    assert jobs.hand_raisers([(1, "login"), (2, "contact_sales_clicked"), (3, "page_viewed")]) == {2}


# --- two workers on PostgreSQL ------------------------------------------------------


def start_worker(redis_url: str) -> subprocess.Popen:
    options = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{options['USER']}@{options['HOST'] or '127.0.0.1'}:"
        f"{options['PORT'] or 5432}/{options['NAME']}",
        "REDIS_URL": redis_url,
        "SCORING_DRAIN_SLICE": "7",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "scoring", "--burst"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_work_and_record_each_status_change_once(
    redis_queues, hand_raise_definition, settings
):
    accounts = [Account.objects.create(name=f"Co {i}", country="US").pk for i in range(60)]
    # Many overlapping batches, some hand-raises, and jobs enough for two workers.
    for number in range(20):
        ids = accounts[(number * 11) % 60 :][:25]
        name = "contact_sales_clicked" if number % 4 == 0 else "login"
        record_events(events(ids, name, prefix=f"b{number}"))
        if number % 3 == 0:
            jobs.redis_at(settings.RQ_QUEUES["scoring"]["URL"]).delete(jobs.DRAIN_QUEUED)
            jobs.enqueue_rescore(ids)  # another job waiting: both workers get work
    assert jobs.scoring_queue().count >= 2

    url = settings.RQ_QUEUES["scoring"]["URL"]
    workers = [start_worker(url), start_worker(url)]
    for worker in workers:
        assert worker.wait(timeout=180) == 0

    touched = set(Event.objects.values_list("account_id", flat=True))
    assert Account.objects.filter(pk__in=touched, status=LeadStatus.PQL).count() == len(touched)
    moves = list(StatusChange.objects.filter(to_status=LeadStatus.PQL).values_list("account_id", flat=True))
    assert sorted(moves) == sorted(touched)  # one SIGNED_UP -> PQL each, never two
    assert not redis_queues.exists(jobs.ROUTINE, jobs.URGENT, jobs.LEASES)


# --- slices bounded by time ---------------------------------------------------------


def test_routine_slices_are_sized_to_last_about_the_slice_time():
    sizer = jobs.SliceSizer(seconds=0.1, largest=2000)
    assert sizer.size == jobs.FIRST_SLICE
    sizer.observe(100, 0.02)  # 0.2 ms an account: 500 fit, but growth is at most twofold
    assert sizer.size == 200
    sizer.observe(200, 0.04)
    assert sizer.size == 400
    sizer.observe(400, 0.08)
    assert sizer.size == 500
    sizer.observe(500, 0.5)  # the machine got busy: 1 ms an account
    assert sizer.size == 100


def test_a_slice_cut_short_by_the_waiting_work_does_not_shrink_the_next():
    sizer = jobs.SliceSizer(seconds=0.1, largest=2000, per_account=0.0002)
    assert sizer.size == 500
    sizer.observe(3, 0.03)  # 10 ms an account, mostly the slice's fixed cost
    assert sizer.size == 500
    sizer.observe(3, 0.3)  # but over the slice time, it does
    assert sizer.size == jobs.SliceSizer.smallest


def test_slices_stay_within_the_largest_size():
    sizer = jobs.SliceSizer(seconds=10, largest=50, per_account=0.0001)
    assert sizer.size == 50
    sizer.observe(50, 0.001)
    assert sizer.size == 50
    assert jobs.SliceSizer(seconds=0.1, largest=10).size == 10


def test_a_drain_job_starts_from_the_cost_per_account_the_last_one_measured(
    redis_queues, hand_raise_definition, django_capture_on_commit_callbacks
):
    accounts = [Account.objects.create(name=f"Co {i}").pk for i in range(40)]
    with django_capture_on_commit_callbacks(execute=True):
        record_events(events(accounts, "login", prefix="busy"))
    redis_queues.set(jobs.COST_PER_ACCOUNT, 0.01)  # 10 ms an account: 25 accounts (the smallest)
    drained = jobs.drain(slice_size=100, slice_seconds=0.1)
    assert drained.sizes[0] == jobs.SliceSizer.smallest
    assert drained.scored == 40
    assert float(redis_queues.get(jobs.COST_PER_ACCOUNT)) > 0

