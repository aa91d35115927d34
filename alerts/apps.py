from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Email and Slack for reps and managers, delivered from the lead outbox."""

    name = "alerts"
    verbose_name = "Alerts"

    def ready(self):
        from leads.outbox import on_messages_written

        from .jobs import wake_up

        on_messages_written(wake_up)
