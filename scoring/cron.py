"""Periodic scoring jobs, run by `manage.py rqcron scoring.cron` (run one such process).

- The time-driven pass, every minute: rescores the accounts whose results
  time alone has changed (an event left a "last D days" window).
- The catch-up pass: rescores what a Redis outage or a dead worker left held.
- The full rescore, daily: a safety net behind both.
- Pending events of visitors who never identify expire, so they do not pile up.
"""

from django.conf import settings
from rq import cron

from leads.ingest.jobs import expire_pending_events_job
from scoring.jobs import QUEUE, catch_up_job, scheduled_rescore, time_driven_job

# (job, every so many seconds, timeout in seconds, name)
SCHEDULE = [
    (time_driven_job, settings.SCORING_TIME_DRIVEN_INTERVAL, 300, "time-driven-rescore"),
    (scheduled_rescore, settings.SCORING_RESCORE_INTERVAL, 300, "scheduled-rescore"),
    (catch_up_job, settings.SCORING_CATCH_UP_INTERVAL, 900, "catch-up"),
    (expire_pending_events_job, 24 * 3600, 900, "expire-pending-events"),
]

for job, interval, timeout, name in SCHEDULE:
    cron.register(job, queue_name=QUEUE, interval=interval, job_timeout=timeout, name=name)
