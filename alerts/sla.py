"""The SLA check: a set-based pass that announces contact due soon and overdue."""

from datetime import timedelta

from django.conf import settings

from leads.outbox import announce_sla

# Deadlines passed longer ago than this are not announced any more (the
# first pass after a long outage does not flood managers with old news).
LOOKBACK = timedelta(days=2)


def check_sla() -> int:
    return announce_sla(warning=timedelta(minutes=settings.ALERTS_SLA_WARNING_MINUTES), lookback=LOOKBACK)
