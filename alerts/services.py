"""The alerts' writes: a manager's alert choices, and sending outbox
messages again (the admin's re-queue)."""

from dataclasses import dataclass

from django.db import transaction

from leads import outbox
from leads.models import AlertTiming, OutboxMessage
from leads.webhooks import delivery as webhook_delivery
from leads.webhooks.jobs import request_delivery
from leads.webhooks.models import Delivery, DeliveryStatus

from .models import ManagerAlerts


def update_manager_alerts(*, user_id: int, alert_timing: str, slack_webhook_url: str = "") -> ManagerAlerts:
    """A manager's choice: unowned and overdue leads at once, or in a daily
    digest (also posted to their Slack incoming webhook, if they give one)."""
    if alert_timing not in AlertTiming.values:
        raise ValueError(f"alert_timing: one of {', '.join(AlertTiming.values)}")
    choice, _ = ManagerAlerts.objects.update_or_create(
        user_id=user_id, defaults={"alert_timing": alert_timing, "slack_webhook_url": slack_webhook_url}
    )
    return choice


@dataclass(frozen=True)
class Requeued:
    messages: int
    webhook_deliveries: int


def requeue_messages(*, message_ids: list[int]) -> Requeued:
    """Send these outbox messages again where they failed or are stuck: their
    email and Slack alerts (failed ones get a fresh set of retries, waiting
    ones are due now) and their webhook deliveries not yet delivered (sent
    again now, under the same webhook-id). What was delivered stays so."""
    with transaction.atomic():
        people = outbox.requeue(message_ids)
        webhook_ids = [
            message.webhook_id
            for message in OutboxMessage.objects.filter(pk__in=message_ids, message_id__isnull=False).only("message_id")
        ]
        undelivered = Delivery.objects.filter(message_id__in=webhook_ids).exclude(status=DeliveryStatus.DELIVERED)
        deliveries = undelivered.count()
        request_delivery(webhook_delivery.replay(undelivered))
    return Requeued(messages=people, webhook_deliveries=deliveries)
