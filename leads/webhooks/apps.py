from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Webhooks for the CRM and anything else, delivered from the lead outbox."""

    name = "leads.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The outbox (lead core) cannot call delivery above it: channels register.
        from leads.outbox import on_messages_written

        from .jobs import wake_up

        on_messages_written(wake_up)
