"""The worker class every `manage.py rqworker` runs: jobs in its own process."""

import time

from scoring import jobs
from scoring.worker import ScoringWorker


def test_the_worker_keeps_its_heartbeat_going_during_a_long_job(redis_queues, monkeypatch):
    queue = jobs.scoring_queue()
    queue.enqueue(time.sleep, 2.5)
    worker = ScoringWorker([queue], connection=queue.connection, worker_ttl=2)
    beats = []
    real = worker.heartbeat

    def heartbeat(*args, **kwargs):
        beats.append(time.monotonic())
        return real(*args, **kwargs)

    monkeypatch.setattr(worker, "heartbeat", heartbeat)
    started = time.monotonic()
    worker.work(burst=True)
    # A beat a second (half the worker's TTL) while the job slept, none of them rq's own.
    assert len([beat for beat in beats if started + 0.5 < beat < started + 2.4]) >= 2
    assert queue.count == 0
