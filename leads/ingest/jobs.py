"""RQ entry points for ingestion's housekeeping, scheduled by pqlsite.cron."""

import logging

from .pending import expire_pending_events

log = logging.getLogger(__name__)


def expire_pending_events_job() -> int:
    """Daily: drop pending events past their retention; returns the count."""
    expired = expire_pending_events()
    log.info("Expired %d pending event(s)", expired)
    return expired


# (job, queue, every so many seconds, timeout in seconds, name), as in scoring.cron.
SCHEDULE = [
    (expire_pending_events_job, "scoring", 24 * 3600, 900, "expire-pending-events"),
]
