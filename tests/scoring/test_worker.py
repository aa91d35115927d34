"""The worker class every `manage.py rqworker` runs: jobs in its own process."""

import threading
import time

import pytest

from scoring import jobs
from scoring.worker import ScoringWorker

# The worker closes stale connections around each job, as Django does around a request.
pytestmark = pytest.mark.django_db


def test_the_worker_keeps_its_heartbeat_going_during_a_long_job(redis_queues, monkeypatch):
    queue = jobs.scoring_queue()
    queue.enqueue(time.sleep, 3.5)
    worker = ScoringWorker([queue], connection=queue.connection, worker_ttl=2)
    beats_during_the_job = []
    real = worker.heartbeat
    working_thread = threading.current_thread()

    def heartbeat(*args, **kwargs):
        # rq beats from the worker's own thread around a job; ours beat from another.
        if threading.current_thread() is not working_thread:
            beats_during_the_job.append(time.monotonic())
        return real(*args, **kwargs)

    monkeypatch.setattr(worker, "heartbeat", heartbeat)
    worker.work(burst=True)

    # A beat a second (half the worker's TTL) while the job slept.
    assert len(beats_during_the_job) >= 2
    assert queue.count == 0
