"""RQ entry points for rescoring, and the calls that enqueue them after commit.

Rescores are coalesced: a Redis flag per account (SET NX) is taken when a job
is enqueued and cleared when the job starts. Events arriving while a job
waits add nothing; events arriving after it started enqueue exactly one more,
which will see them. Jobs take ids, re-read everything and are safe to retry.

Redis is not the source of truth: a rescore that cannot be enqueued is held
in the database (scoring.backlog) and the catch-up pass does it once the
queue is back; a job holds its accounts there while it runs, so a killed
worker loses nothing either.
"""

import logging
import time
from collections.abc import Iterable
from functools import cache

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Retry
from rq.job import JobStatus
from rq.registry import StartedJobRegistry

from . import backlog, rescoring

log = logging.getLogger(__name__)

QUEUE = "scoring"
PENDING_ACCOUNT = "pqlsite:rescore:pending:{}"
PENDING_ALL = "pqlsite:rescore:pending:all"
# A flag outlives a lost job by at most this long; the scheduled rescore covers the gap.
PENDING_TTL = 3600
RETRY = Retry(max=3, interval=[10, 60, 300])


@cache
def inline_redis():
    """An in-process Redis for RQ's synchronous mode when no Redis is configured."""
    from fakeredis import FakeRedis

    return FakeRedis()


@cache
def redis_at(url: str):
    """One client (and connection pool) per Redis URL for the process:
    ingestion enqueues on every batch, and a new client per call costs a
    connection each time. Short timeouts and one retry: an unreachable
    Redis must cost a request milliseconds, not redis-py's default retries."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry as RedisRetry

    return redis.Redis.from_url(
        url, socket_connect_timeout=1, socket_timeout=2, retry=RedisRetry(NoBackoff(), 1)
    )


class QueueBreaker:
    """After Redis fails, skip it for a few seconds: while it is down, every
    batch would otherwise pay for a failed connection before holding its
    accounts in the database."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.open_until = 0.0

    @property
    def closed(self) -> bool:
        return self.clock() >= self.open_until

    def trip(self) -> None:
        self.open_until = self.clock() + settings.SCORING_QUEUE_RETRY_AFTER

    def reset(self) -> None:
        self.open_until = 0.0


breaker = QueueBreaker()


def scoring_queue():
    # Callers enqueue from on_commit callbacks already, so no deferral here.
    config = settings.RQ_QUEUES[QUEUE]
    if config["ASYNC"]:
        return django_rq.get_queue(QUEUE, connection=redis_at(config["URL"]), commit_mode="auto")
    return django_rq.get_queue(
        QUEUE, connection=inline_redis(), is_async=False, commit_mode="auto"
    )


def enqueue(func, *args, description: str):
    queue = scoring_queue()
    job = queue.enqueue(
        func, *args, retry=RETRY, result_ttl=0, failure_ttl=7 * 24 * 3600, description=description
    )
    # Synchronous mode swallows the job's error; say it loudly instead. (A
    # finished job is gone already, result_ttl=0: read the status it ended in.)
    if not queue.is_async and job.get_status(refresh=False) == JobStatus.FAILED:
        log.error("%s failed: %s", description, job.latest_result().exc_string)
    return job


def request_rescore(account_ids: Iterable[int]) -> None:
    """Rescore these accounts once the current transaction commits."""
    ids = sorted(set(account_ids))
    if ids:
        transaction.on_commit(lambda: enqueue_rescore(ids), robust=True)


def request_full_rescore(reason: str) -> None:
    """Rescore every account once the current transaction commits."""
    transaction.on_commit(lambda: enqueue_full_rescore(reason), robust=True)


def enqueue_rescore(account_ids: list[int]) -> list[int]:
    """Enqueue one job for the accounts that have none waiting; returns those
    ids. With Redis unreachable, the accounts are held for the catch-up pass."""
    if not breaker.closed:
        backlog.hold(account_ids, reason=backlog.QUEUE_UNREACHABLE)
        return []
    try:
        taken = take_pending_flags(account_ids)
        if taken:
            enqueue(rescore_accounts_job, taken, description=f"Rescore {len(taken)} account(s)")
        return taken
    except RedisError:
        log.warning("Queue unreachable: holding %d account(s) for the catch-up pass", len(account_ids))
        breaker.trip()
        backlog.hold(account_ids, reason=backlog.QUEUE_UNREACHABLE)
        return []


# SET NX for every account in one call: one command to send and parse, not one per account.
TAKE_FLAGS = """
local taken = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, 1, 'NX', 'EX', ARGV[1]) then taken[#taken + 1] = i end
end
return taken
"""


@cache
def flag_taker(redis):
    return redis.register_script(TAKE_FLAGS)


def take_pending_flags(account_ids: list[int]) -> list[int]:
    """The accounts with no rescore waiting, now flagged as waiting."""
    queue = scoring_queue()
    if not queue.is_async:
        return account_ids  # the job runs at once: nothing waits to be coalesced
    keys = [PENDING_ACCOUNT.format(account_id) for account_id in account_ids]
    return [account_ids[i - 1] for i in flag_taker(queue.connection)(keys=keys, args=[PENDING_TTL])]


def enqueue_full_rescore(reason: str) -> bool:
    try:
        if not scoring_queue().connection.set(PENDING_ALL, 1, nx=True, ex=PENDING_TTL):
            return False
        enqueue(rescore_all_job, reason, description=f"Rescore all accounts: {reason}")
        return True
    except RedisError:
        # The catch-up pass sees a definition change with no full rescore after it.
        log.warning("Queue unreachable: full rescore (%s) left to the catch-up pass", reason)
        breaker.trip()
        return False


def rescore_accounts_job(account_ids: list[int]) -> dict:
    started = timezone.now()
    scoring_queue().connection.delete(*(PENDING_ACCOUNT.format(i) for i in account_ids))
    # Held while the job runs: if the worker dies, the catch-up pass finds them.
    backlog.hold(account_ids, reason=backlog.JOB_RUNNING, at=started)
    outcome = rescoring.rescore_accounts(account_ids)
    backlog.release(account_ids, requested_by=started)
    return vars(outcome)


def rescore_all_job(reason: str = "") -> int:
    scoring_queue().connection.delete(PENDING_ALL)
    return rescoring.rescore_all(reason=reason).pk


def catch_up_job() -> dict:
    """Rescore what a Redis outage or a dead worker left held, and hand jobs
    abandoned by a dead worker back to RQ (retried while retries are left)."""
    queue = scoring_queue()
    if queue.is_async:
        StartedJobRegistry(QUEUE, connection=queue.connection).cleanup()
    caught_up = backlog.catch_up()
    if caught_up.account_ids:
        # A flag taken just before Redis failed has no job behind it: without
        # this, the account's next events would wait for the flag to expire.
        queue.connection.delete(*(PENDING_ACCOUNT.format(i) for i in caught_up.account_ids))
    return {"accounts": caught_up.accounts, "full_rescore": caught_up.full_rescore}


def scheduled_rescore() -> bool:
    """Run by the scheduler: windows such as 'last 7 days' move with time alone."""
    return enqueue_full_rescore("scheduled")
