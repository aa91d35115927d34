"""The RQ worker class every `manage.py rqworker` runs (settings.RQ).

rq forks a work horse for each job, and a horse imports the job's module
when its worker has not: every rescore paid for importing scoring, leads and
their dependencies again (most of a hand-raise's latency with no load).
Importing the job modules here, in the worker before it forks, lets each
horse start with them loaded.
"""

from rq import Worker

import leads.ingest.jobs  # noqa: F401 (loaded once, for the forked horses)
import scoring.jobs  # noqa: F401


class ScoringWorker(Worker):
    """rq's worker, with the job modules loaded before it forks."""
