"""What a sales manager chose for their alerts: at once, or a daily digest of
what nobody owns and what is late (reps keep their choice on SalesRep)."""

from django.conf import settings
from django.db import models

from leads.models import AlertTiming


class ManagerAlerts(models.Model):
    """One manager's alert choices. A manager without a row hears at once,
    as before the choice existed."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="manager_alerts", verbose_name="manager"
    )
    alert_timing = models.CharField(
        "unowned and overdue leads",
        max_length=10,
        choices=AlertTiming.choices,
        default=AlertTiming.INSTANT,
        help_text="At once: one alert per lead. In a daily digest: one message a day listing them all.",
    )
    slack_webhook_url = models.URLField(
        "Slack webhook URL for the digest",
        max_length=500,
        blank=True,
        help_text="Optional: a Slack incoming-webhook URL the manager's daily digest is also posted to.",
    )
    digest_sent_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "manager's alert settings"
        verbose_name_plural = "managers' alert settings"
        ordering = ["user__username"]

    def __str__(self):
        return self.user.get_full_name() or self.user.get_username()
