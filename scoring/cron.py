"""Periodic jobs, run by `manage.py rqcron scoring.cron` (run one such process).

- The full rescore: windows such as "in the last 7 days" change with time
  alone, so every account is rescored on a schedule as well as on new events.
- The catch-up pass: rescores what a Redis outage or a dead worker left held.
- Pending events of visitors who never identify expire, so they do not pile up.
- Alerts: a delivery pass (what an on-commit wake-up missed, e.g. while Redis
  was down), the SLA check, and the hourly look for digests due.
"""

from django.conf import settings
from rq import cron

from alerts import jobs as alerts
from leads.ingest.jobs import expire_pending_events_job
from scoring.jobs import QUEUE, catch_up_job, scheduled_rescore

# (job, queue, every so many seconds, timeout in seconds, name)
SCHEDULE = [
    (scheduled_rescore, QUEUE, settings.SCORING_RESCORE_INTERVAL, 300, "scheduled-rescore"),
    (catch_up_job, QUEUE, settings.SCORING_CATCH_UP_INTERVAL, 900, "catch-up"),
    (expire_pending_events_job, QUEUE, 24 * 3600, 900, "expire-pending-events"),
    (alerts.deliver_pending_job, alerts.QUEUE, settings.ALERTS_DELIVERY_INTERVAL, 600, "alerts-delivery"),
    (alerts.check_sla_job, alerts.QUEUE, settings.ALERTS_SLA_CHECK_INTERVAL, 300, "alerts-sla"),
    (alerts.send_digests_job, alerts.QUEUE, 3600, 600, "alerts-digests"),
]

for job, queue, interval, timeout, name in SCHEDULE:
    cron.register(job, queue_name=queue, interval=interval, job_timeout=timeout, name=name)
