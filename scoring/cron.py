"""Scoring's periodic jobs, registered by pqlsite.cron (`manage.py rqcron pqlsite.cron`).

- The full rescore: windows such as "in the last 7 days" change with time
  alone, so every account is rescored on a schedule as well as on new events.
- The catch-up pass: rescores what a Redis outage or a dead worker left held.
"""

from django.conf import settings

from scoring.jobs import QUEUE, catch_up_job, scheduled_rescore

# (job, queue, every so many seconds, timeout in seconds, name)
SCHEDULE = [
    (scheduled_rescore, QUEUE, settings.SCORING_RESCORE_INTERVAL, 300, "scheduled-rescore"),
    (catch_up_job, QUEUE, settings.SCORING_CATCH_UP_INTERVAL, 900, "catch-up"),
]
