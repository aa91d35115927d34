"""RQ entry points for rescoring, and the calls that enqueue them after commit.

Rescores are coalesced: a Redis flag per account (SET NX) is taken when a job
is enqueued and cleared when the job starts. Events arriving while a job
waits add nothing; events arriving after it started enqueue exactly one more,
which will see them. Jobs take ids, re-read everything and are safe to retry.
"""

import logging
from collections.abc import Iterable
from functools import cache

import django_rq
from django.conf import settings
from django.db import transaction
from redis.exceptions import RedisError
from rq import Retry
from rq.job import JobStatus

from . import rescoring

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
    connection each time."""
    import redis

    return redis.Redis.from_url(url)


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
    """Enqueue one job for the accounts that have none waiting; returns those ids."""
    try:
        redis = scoring_queue().connection
        with redis.pipeline(transaction=False) as pipe:
            for account_id in account_ids:
                pipe.set(PENDING_ACCOUNT.format(account_id), 1, nx=True, ex=PENDING_TTL)
            taken = [account_id for account_id, ok in zip(account_ids, pipe.execute(), strict=True) if ok]
        if taken:
            enqueue(rescore_accounts_job, taken, description=f"Rescore {len(taken)} account(s)")
        return taken
    except RedisError:
        log.exception("Could not enqueue a rescore of %d account(s)", len(account_ids))
        return []


def enqueue_full_rescore(reason: str) -> bool:
    try:
        if not scoring_queue().connection.set(PENDING_ALL, 1, nx=True, ex=PENDING_TTL):
            return False
        enqueue(rescore_all_job, reason, description=f"Rescore all accounts: {reason}")
        return True
    except RedisError:
        log.exception("Could not enqueue a full rescore (%s)", reason)
        return False


def rescore_accounts_job(account_ids: list[int]) -> dict:
    scoring_queue().connection.delete(*(PENDING_ACCOUNT.format(i) for i in account_ids))
    outcome = rescoring.rescore_accounts(account_ids)
    return vars(outcome)


def rescore_all_job(reason: str = "") -> int:
    scoring_queue().connection.delete(PENDING_ALL)
    return rescoring.rescore_all(reason=reason).pk


def scheduled_rescore() -> bool:
    """Run by the scheduler: windows such as 'last 7 days' move with time alone."""
    return enqueue_full_rescore("scheduled")
