"""The project's periodic jobs, run by `manage.py rqcron pqlsite.cron` (run
exactly one such process). Each app lists its own; this registers them all.

- Scoring: the time-driven pass, the catch-up pass and the daily full rescore (scoring.cron).
- Ingest: pending events of visitors who never identify expire.
- Alerts: a delivery pass (what an on-commit wake-up missed, e.g. while Redis
  was down), the SLA check, and the hourly look for digests due.
- Webhooks: the sweep (a fan-out wake-up missed, due retries and replays, and
  endpoints failing for a day), on the webhooks queue: a rescore running on
  the scoring queue must not hold up retries; and the daily pruning of old
  deliveries.
"""

from django.conf import settings
from rq import cron

from alerts import jobs as alerts
from leads.ingest.jobs import SCHEDULE as INGEST_SCHEDULE
from leads.webhooks import jobs as webhooks
from scoring.cron import SCHEDULE as SCORING_SCHEDULE

# (job, queue, every so many seconds, timeout in seconds, name)
ALERTS_SCHEDULE = [
    (alerts.deliver_pending_job, alerts.QUEUE, settings.ALERTS_DELIVERY_INTERVAL, 600, "alerts-delivery"),
    (alerts.check_sla_job, alerts.QUEUE, settings.ALERTS_SLA_CHECK_INTERVAL, 300, "alerts-sla"),
    (alerts.send_digests_job, alerts.QUEUE, 3600, 600, "alerts-digests"),
]
WEBHOOKS_SCHEDULE = [
    (webhooks.sweep_job, webhooks.QUEUE, settings.WEBHOOKS_SWEEP_INTERVAL, 120, "webhooks-sweep"),
    (webhooks.prune_job, webhooks.QUEUE, 24 * 3600, 900, "webhooks-prune"),
]

SCHEDULE = [*SCORING_SCHEDULE, *INGEST_SCHEDULE, *ALERTS_SCHEDULE, *WEBHOOKS_SCHEDULE]

for job, queue, interval, timeout, name in SCHEDULE:
    cron.register(job, queue_name=queue, interval=interval, job_timeout=timeout, name=name)
