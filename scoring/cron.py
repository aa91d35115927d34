"""The periodic full rescore, run by `manage.py rqcron scoring.cron`.

Windows such as "in the last 7 days" change with time alone, so every account
is rescored on a schedule as well as on new events. Run one rqcron process.
"""

from django.conf import settings
from rq import cron

from scoring.jobs import QUEUE, scheduled_rescore

cron.register(
    scheduled_rescore,
    queue_name=QUEUE,
    interval=settings.SCORING_RESCORE_INTERVAL,
    job_timeout=300,
    name="scheduled-rescore",
)
