"""The project's periodic jobs, run by `manage.py rqcron pqlsite.cron` (run
exactly one such process). Each app lists its own; this registers them all."""

from rq import cron

from leads.ingest.jobs import SCHEDULE as INGEST_SCHEDULE
from scoring.cron import SCHEDULE as SCORING_SCHEDULE
from scoring.jobs import QUEUE

for job, interval, timeout, name in [*SCORING_SCHEDULE, *INGEST_SCHEDULE]:
    cron.register(job, queue_name=QUEUE, interval=interval, job_timeout=timeout, name=name)
