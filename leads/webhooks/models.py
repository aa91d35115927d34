"""Webhook endpoints, one delivery per (message, endpoint) and every attempt
made to send it."""

import base64
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from leads.models import Account

from .events import EVENT_TYPES
from .targets import display_url

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix)
SECRET_BYTES = 32


def new_secret() -> str:
    """A signing secret in the Standard Webhooks format: whsec_ and base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class Endpoint(models.Model):
    """Where managers want events sent, with the secret that signs them.

    The secret is shown once, when it is made (on creation or rotation), and
    never again: it is not a form field, nor in str(), the API or logs.
    """

    url = models.URLField("URL", max_length=2000, help_text="http(s) only.")
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(
        default=list, help_text="The event types sent to this endpoint."
    )
    is_active = models.BooleanField(
        "active", default=True, help_text="Inactive endpoints are sent nothing; what waits is kept."
    )
    secret = models.CharField(max_length=100, default=new_secret, editable=False)
    # After a rotation the old secret also signs, for a while, so receivers can switch over.
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    failing_since = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="First failed attempt since the last success."
    )
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    paused_until = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Unreachable or asked us to slow down (429): nothing is sent before this.",
    )
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)

    class Meta:
        ordering = ["url", "id"]

    def __str__(self):
        return self.description or display_url(self.url)

    def wants(self, event_type: str) -> bool:
        return event_type in self.event_types

    @property
    def event_type_labels(self) -> list[str]:
        return [label for value, label in EVENT_TYPES if value in self.event_types]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One message for one endpoint, sent until the receiver takes it.

    message_id is the webhook-id: the outbox message's stable id, the same on
    every attempt and replay, so a receiver can drop duplicates. The body is
    built once, so every attempt sends the same bytes.
    """

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField("webhook-id", max_length=100)
    event_type = models.CharField(max_length=50, choices=EVENT_TYPES)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(help_text="The JSON sent, the same on every attempt.")
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is sending it; others leave it alone until then."
    )
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message_id", "endpoint"], name="webhook_delivery_once_per_endpoint"
            ),
        ]
        indexes = [
            # What a worker claims: an endpoint's pending deliveries, earliest due first.
            models.Index(
                fields=["endpoint", "next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_due",
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint"),
        ]

    def __str__(self):
        return f"{self.event_type} {self.message_id}"


class AttemptOutcome(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    RETRY = "retry", "Will retry"
    FAILED = "failed", "Failed for good"


class Attempt(models.Model):
    """One try at sending a delivery: when, what came back, how long it took."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField()
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=AttemptOutcome.choices)

    class Meta:
        ordering = ["-attempted_at", "-id"]
        indexes = [
            models.Index(fields=["endpoint", "-attempted_at"], name="webhook_attempt_endpoint"),
            models.Index(fields=["delivery", "-attempted_at"], name="webhook_attempt_delivery"),
        ]

    def __str__(self):
        return f"{self.response_code or self.error or '-'} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"
