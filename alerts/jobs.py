"""RQ entry points for alerts, and the wake-up the outbox calls after commit.

Wake-ups are coalesced: a Redis flag (SET NX) is taken when a delivery job
is enqueued and cleared when it starts, so a burst of commits enqueues one
job, and a commit during a job enqueues one more. Redis is not the source of
truth: the outbox table is, and the periodic pass delivers whatever a failed
wake-up left.
"""

import logging

import django_rq
from django.conf import settings
from redis.exceptions import RedisError

from scoring.jobs import QueueBreaker, inline_redis, redis_at

from . import delivery, digest, manager_digest, sla

log = logging.getLogger(__name__)

QUEUE = "default"
DELIVERY_PENDING = "pqlsite:alerts:delivery-pending"
# A flag outlives a lost job by at most this long; the periodic pass covers the gap.
PENDING_TTL = 120
# Messages one job delivers before handing the rest to the next.
JOB_SHARE = 2000

breaker = QueueBreaker()


def alerts_queue():
    config = settings.RQ_QUEUES[QUEUE]
    if config["ASYNC"]:
        return django_rq.get_queue(QUEUE, connection=redis_at(config["URL"]), commit_mode="auto")
    return django_rq.get_queue(QUEUE, connection=inline_redis(), is_async=False, commit_mode="auto")


def wake_up() -> bool:
    """Deliver what was just committed, through a job; True when one was enqueued."""
    if not breaker.closed:
        return False
    queue = alerts_queue()
    try:
        if queue.is_async and not queue.connection.set(DELIVERY_PENDING, 1, nx=True, ex=PENDING_TTL):
            return False  # a job is waiting already and will see these messages
        queue.enqueue(deliver_pending_job, result_ttl=0, failure_ttl=7 * 24 * 3600, description="Deliver alerts")
        return True
    except RedisError:
        log.warning("Queue unreachable: alerts left to the periodic delivery pass")
        breaker.trip()
        return False


def deliver_pending_job() -> dict:
    """Deliver pending email and Slack messages (also the periodic pass); a
    backlog larger than one job's share is handed to the next job."""
    if alerts_queue().is_async:
        alerts_queue().connection.delete(DELIVERY_PENDING)
    delivered = delivery.deliver_pending(limit=JOB_SHARE)
    if delivered.claimed >= JOB_SHARE:
        wake_up()
    return vars(delivered)


def check_sla_job() -> int:
    """Periodic: announce leads whose contact is due soon or overdue."""
    return sla.check_sla()  # the outbox wakes delivery once this commits


def send_digests_job() -> dict:
    """Hourly: send the daily digest to the reps and managers whose time has come."""
    managers = manager_digest.send_due_manager_digests()
    return {"reps": digest.send_due_digests(), "managers": vars(managers)}
