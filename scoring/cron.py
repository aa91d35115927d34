"""Periodic jobs, run by `manage.py rqcron scoring.cron` (run one such process).

- The full rescore: windows such as "in the last 7 days" change with time
  alone, so every account is rescored on a schedule as well as on new events.
- The catch-up pass: rescores what a Redis outage or a dead worker left held.
- Pending events of visitors who never identify expire, so they do not pile up.
- The webhooks sweep: due retries and replays, and endpoints failing for a day.
"""

from django.conf import settings
from rq import cron

from leads.ingest.jobs import expire_pending_events_job
from leads.webhooks import jobs as webhooks_jobs
from scoring.jobs import QUEUE, catch_up_job, scheduled_rescore

# (job, every so many seconds, timeout in seconds, name)
SCHEDULE = [
    (scheduled_rescore, settings.SCORING_RESCORE_INTERVAL, 300, "scheduled-rescore"),
    (catch_up_job, settings.SCORING_CATCH_UP_INTERVAL, 900, "catch-up"),
    (expire_pending_events_job, 24 * 3600, 900, "expire-pending-events"),
]

for job, interval, timeout, name in SCHEDULE:
    cron.register(job, queue_name=QUEUE, interval=interval, job_timeout=timeout, name=name)

# On the webhooks queue: a rescore running on the scoring queue must not hold up retries.
cron.register(
    webhooks_jobs.sweep_job,
    queue_name=webhooks_jobs.QUEUE,
    interval=settings.WEBHOOKS_SWEEP_INTERVAL,
    job_timeout=120,
    name="webhooks-sweep",
)
