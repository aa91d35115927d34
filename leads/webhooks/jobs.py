"""RQ entry points for webhook delivery, on a queue of their own, and the
calls that enqueue them after commit.

One delivery job per endpoint waits at a time (a Redis flag, SET NX, taken
on enqueue and cleared when the job starts). The deliveries are in the
database, not in Redis: with Redis down nothing is lost, and the sweep
(every WEBHOOKS_SWEEP_INTERVAL seconds) wakes every endpoint with something
due, retries included.
"""

import logging
from collections.abc import Iterable

import django_rq
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from redis.exceptions import RedisError

from leads.groups import SALES_MANAGERS
from scoring.jobs import inline_redis, redis_at

from . import delivery
from .models import Endpoint
from .targets import display_url

log = logging.getLogger(__name__)

QUEUE = "webhooks"
QUEUED_FLAG = "pqlsite:webhooks:queued:{}"
# A flag outlives a lost job by at most this long; the sweep covers the gap.
FLAG_TTL = 300


def webhooks_queue():
    config = settings.RQ_QUEUES[QUEUE]
    if config["ASYNC"]:
        return django_rq.get_queue(QUEUE, connection=redis_at(config["URL"]), commit_mode="auto")
    return django_rq.get_queue(QUEUE, connection=inline_redis(), is_async=False, commit_mode="auto")


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
    disabled = delivery.disable_failing_endpoints()
    for endpoint in disabled:
        tell_managers_disabled(endpoint)
    woken = enqueue_delivery(delivery.endpoints_with_due_work())
    return {"disabled": [endpoint.pk for endpoint in disabled], "woken": woken}


def tell_managers_disabled(endpoint: Endpoint) -> None:
    """An email to every sales manager with an address."""
    recipients = list(
        get_user_model()
        .objects.filter(groups__name=SALES_MANAGERS, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
        .distinct()
    )
    if not recipients:
        log.warning("Webhook endpoint %s disabled; no manager has an email address", endpoint.pk)
        return
    send_mail(
        subject=f"Webhook endpoint disabled: {endpoint}",
        message=(
            f"The webhook endpoint {display_url(endpoint.url)} failed for a day and was turned off.\n"
            f"{endpoint.disabled_reason}\n\n"
            "What it was to be sent is kept: fix the receiver, then turn the endpoint back on in "
            f"the admin ({settings.SITE_URL.rstrip('/')}/admin/webhooks/endpoint/{endpoint.pk}/change/)."
        ),
        from_email=None,
        recipient_list=recipients,
    )
