"""The RQ worker class every `manage.py rqworker` runs (settings.RQ).

It runs each job in its own process, as rq's SimpleWorker does, instead of
forking a work horse per job. A horse paid for the fork and for a new
PostgreSQL connection (and its prepared statements) on every job: with no
load, most of a hand-raise's time between its 200 and its rescore. Leases and
database holds keep a killed worker from losing accounts either way
(scoring.jobs), and rq's job timeouts still apply (SIGALRM in this process).

As Django does around a request, connections past CONN_MAX_AGE or broken
(PostgreSQL restarted) are closed before and after each job, and a thread
sends the worker's heartbeat while a long job runs, so that /health/ does
not count a busy worker as dead.
"""

import threading

from django.db import close_old_connections
from rq import SimpleWorker

import leads.ingest.jobs  # noqa: F401 (loaded before the first job)
import scoring.jobs  # noqa: F401

# Heartbeats during a job, at most this many seconds apart.
BEAT_EVERY = 30


class ScoringWorker(SimpleWorker):
    """rq's worker, running jobs in its own process with fresh-enough connections."""

    def perform_job(self, job, queue):
        close_old_connections()
        done = threading.Event()
        beating = threading.Thread(target=self.beat_until, args=(done, job), daemon=True)
        beating.start()
        try:
            return super().perform_job(job, queue)
        finally:
            done.set()
            beating.join()
            close_old_connections()

    def beat_until(self, done: threading.Event, job) -> None:
        interval = min(BEAT_EVERY, max(1, self.worker_ttl // 2))
        while not done.wait(interval):
            try:
                self.heartbeat(self.get_heartbeat_ttl(job))
            except Exception:  # a missed beat must not stop the job
                self.log.warning("Could not send a heartbeat during job %s", job.id, exc_info=True)
