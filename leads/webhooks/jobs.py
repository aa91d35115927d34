"""RQ entry points for webhooks, on a queue of their own, and the calls that
enqueue them after commit.

The outbox wakes the fan-out once a transaction that wrote messages commits
(wake_up); the fan-out turns messages into deliveries and wakes one
delivery job per endpoint. At most one job of each waits at a time (a Redis
flag, SET NX, taken on enqueue and cleared when the job starts). Messages
and deliveries are rows in the database, not in Redis: with Redis down
nothing is lost, and the sweep (every WEBHOOKS_SWEEP_INTERVAL seconds) fans
out what a wake-up missed and wakes every endpoint with something due,
retries included.

The jobs are short and bounded (time limits on every send, a cap per run),
so the webhooks queue can be served by RQ's SimpleWorker (no fork per job:
on a busy host a fork cost a few hundred milliseconds a hop, and a webhook
takes two hops). Each job starts with close_old_connections() (in_worker), as a
request would, since a SimpleWorker keeps its database connection between jobs.
"""

import logging
import time
from collections.abc import Iterable

import django_rq
from django.conf import settings
from django.db import close_old_connections, transaction
from redis.exceptions import RedisError

from scoring.jobs import inline_redis, redis_at

from . import delivery, fanout

log = logging.getLogger(__name__)

QUEUE = "webhooks"
QUEUED_FLAG = "pqlsite:webhooks:queued:{}"
FAN_OUT_FLAG = "pqlsite:webhooks:fan-out"
# A fan-out job yields the worker after this long, queueing itself again.
FAN_OUT_SECONDS = 20
# A flag outlives a lost job by at most this long; the sweep covers the gap.
FLAG_TTL = 300


def webhooks_queue():
    config = settings.RQ_QUEUES[QUEUE]
    if config["ASYNC"]:
        return django_rq.get_queue(QUEUE, connection=redis_at(config["URL"]), commit_mode="auto")
    return django_rq.get_queue(QUEUE, connection=inline_redis(), is_async=False, commit_mode="auto")


def in_worker() -> None:
    """In a worker, drop a connection that broke or outlived CONN_MAX_AGE,
    as Django does around a request (a SimpleWorker keeps one between jobs).
    Inline (no Redis), the job runs inside the caller's transaction: leave it."""
    if settings.RQ_QUEUES[QUEUE]["ASYNC"]:
        close_old_connections()


def wake_up() -> None:
    """Registered with the outbox: called after a transaction that wrote
    messages commits. Cheap, and never raises for Redis."""
    enqueue_fan_out()


def enqueue_fan_out() -> bool:
    queue = webhooks_queue()
    try:
        if queue.is_async and not queue.connection.set(FAN_OUT_FLAG, 1, nx=True, ex=FLAG_TTL):
            return False
        queue.enqueue(
            fan_out_job, result_ttl=0, failure_ttl=24 * 3600, job_timeout=FAN_OUT_SECONDS + 300,
            description="Webhooks: fan out new outbox messages",
        )
        return True
    except RedisError:
        log.warning("Queue unreachable: webhook fan-out left to the sweep")
        return False


def fan_out_job() -> dict:
    """Fan out the outbox's new messages, batch by batch; each batch's
    endpoints are woken as it commits."""
    in_worker()
    queue = webhooks_queue()
    if queue.is_async:
        queue.connection.delete(FAN_OUT_FLAG)
    deadline = time.monotonic() + FAN_OUT_SECONDS
    messages, woken = 0, set()
    while time.monotonic() < deadline:
        batch = fanout.fan_out_pending()
        if not batch.messages:
            break
        messages += batch.messages
        woken.update(enqueue_delivery(sorted(batch.deliveries)))
    else:
        enqueue_fan_out()  # more waits: after the jobs queued meanwhile
    return {"messages": messages, "woken": sorted(woken)}


def request_delivery(endpoint_ids: Iterable[int]) -> None:
    """Wake these endpoints' delivery once the current transaction commits."""
    ids = sorted(set(endpoint_ids))
    if ids:
        transaction.on_commit(lambda: enqueue_delivery(ids), robust=True)


def enqueue_delivery(endpoint_ids: Iterable[int]) -> list[int]:
    """Enqueue a run for each endpoint with none waiting; returns those ids."""
    queue = webhooks_queue()
    queued = []
    try:
        for endpoint_id in endpoint_ids:
            if queue.is_async and not queue.connection.set(
                QUEUED_FLAG.format(endpoint_id), 1, nx=True, ex=FLAG_TTL
            ):
                continue
            queue.enqueue(
                deliver_endpoint_job,
                endpoint_id,
                result_ttl=0,
                failure_ttl=24 * 3600,
                job_timeout=settings.WEBHOOKS_RUN_SECONDS + settings.WEBHOOKS_TOTAL_TIMEOUT * 2 + 60,
                description=f"Webhooks for endpoint {endpoint_id}",
            )
            queued.append(endpoint_id)
    except RedisError:
        # The deliveries wait in the database; the sweep wakes them.
        log.warning("Queue unreachable: webhook delivery left to the sweep")
    return queued


def deliver_endpoint_job(endpoint_id: int) -> dict:
    in_worker()
    queue = webhooks_queue()
    if queue.is_async:
        queue.connection.delete(QUEUED_FLAG.format(endpoint_id))
    run = delivery.deliver_due(endpoint_id)
    if run.more_due:
        enqueue_delivery([endpoint_id])
    return vars(run)


def sweep_job() -> dict:
    """Periodic: disable endpoints failing for a day (and tell the managers),
    and wake every endpoint with deliveries due (new, retries, replays)."""
    in_worker()
    disabled = delivery.disable_failing_endpoints()
    if fanout.has_pending():
        enqueue_fan_out()
    woken = enqueue_delivery(delivery.endpoints_with_due_work())
    return {"disabled": [endpoint.pk for endpoint in disabled], "woken": woken}


def prune_job() -> int:
    """Daily: drop deliveries and attempts past their retention."""
    in_worker()
    return delivery.prune_old_deliveries()
