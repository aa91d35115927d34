"""Scoring's periodic jobs, registered by pqlsite.cron (`manage.py rqcron pqlsite.cron`).

- The time-driven pass, every minute: rescores the accounts whose results
  time alone has changed (an event left a "last D days" window).
- The catch-up pass: rescores what a Redis outage or a dead worker left held.
- The full rescore, daily: a safety net behind both.
"""

from django.conf import settings

from scoring.jobs import QUEUE, catch_up_job, scheduled_rescore, time_driven_job

# (job, queue, every so many seconds, timeout in seconds, name)
SCHEDULE = [
    (time_driven_job, QUEUE, settings.SCORING_TIME_DRIVEN_INTERVAL, 300, "time-driven-rescore"),
    (scheduled_rescore, QUEUE, settings.SCORING_RESCORE_INTERVAL, 300, "scheduled-rescore"),
    (catch_up_job, QUEUE, settings.SCORING_CATCH_UP_INTERVAL, 900, "catch-up"),
]
