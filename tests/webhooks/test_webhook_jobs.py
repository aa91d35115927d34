"""Webhook delivery runs in RQ jobs on a queue of its own: real Redis, a
real worker; with Redis down the deliveries wait in the database and the
sweep sends them once it is back."""

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import SimpleWorker

from leads.webhooks import delivery, jobs
from leads.webhooks.endpoints import create_endpoint
from leads.webhooks.models import Delivery
from tests.webhooks.test_webhook_delivery import message

pytestmark = pytest.mark.django_db(transaction=True)


def work(redis_queues):
    queue = jobs.webhooks_queue()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_a_fan_out_wakes_one_job_per_endpoint_and_a_worker_delivers(redis_queues, receiver, account):
    endpoint, receiver.secret = create_endpoint(url=receiver.url, event_types=["lead.qualified"])
    delivery.fan_out([message(account) for _ in range(3)])
    assert jobs.enqueue_delivery([endpoint.pk]) == [endpoint.pk]
    assert jobs.enqueue_delivery([endpoint.pk]) == []  # one waits already
    assert jobs.webhooks_queue().count == 1

    work(redis_queues)

    assert len(receiver.accepted) == 3 and all(r["verified"] for r in receiver.received)
    assert not redis_queues.exists(jobs.QUEUED_FLAG.format(endpoint.pk))


def test_request_delivery_waits_for_the_commit(redis_queues, receiver, account):
    from django.db import transaction

    endpoint, receiver.secret = create_endpoint(url=receiver.url, event_types=["lead.qualified"])
    with transaction.atomic():
        delivery.fan_out([message(account)])
        jobs.request_delivery([endpoint.pk])
        assert jobs.webhooks_queue().count == 0
    assert jobs.webhooks_queue().count == 1


def test_with_redis_down_the_sweep_delivers_once_it_is_back(settings, redis_queues, receiver, account):
    endpoint, receiver.secret = create_endpoint(url=receiver.url, event_types=["lead.qualified"])
    delivery.fan_out([message(account)])
    working = settings.RQ_QUEUES
    settings.RQ_QUEUES = {
        **working, jobs.QUEUE: {**working[jobs.QUEUE], "URL": "redis://127.0.0.1:1/0"}
    }
    jobs.redis_at.cache_clear()
    try:
        with pytest.raises(RedisConnectionError):
            jobs.webhooks_queue().connection.ping()
        assert jobs.enqueue_delivery([endpoint.pk]) == []  # logged, not raised
    finally:
        settings.RQ_QUEUES = working
        jobs.redis_at.cache_clear()
    assert Delivery.objects.get().status == "pending"

    assert jobs.sweep_job()["woken"] == [endpoint.pk]
    work(redis_queues)
    assert len(receiver.accepted) == 1
    assert Delivery.objects.get().status == "delivered"


def test_the_sweep_is_on_the_schedule_and_the_webhooks_queue(redis_queues):
    from django_rq.cron import DjangoCronScheduler

    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("pqlsite.cron")
    scheduled = {cron_job.func: cron_job for cron_job in scheduler.get_jobs()}
    assert scheduled[jobs.sweep_job].queue_name == "webhooks"
    assert scheduled[jobs.sweep_job].interval == 5
