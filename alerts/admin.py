"""The outbox and the managers' alert choices in the admin.

Sales ops see every message the outbox holds, what became of it (its email
and Slack alerts, its webhook deliveries) and where it stands, and re-queue
what failed or is stuck; the re-queue is `alerts.services.requeue_messages`.
The batches a large change wrote, not yet unfolded into messages, are listed
beside them.
"""

import json

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from leads.models import OutboxBatch, OutboxMessage
from pqlsite.admin import EstimatedCountPaginator, ReadOnlyAdmin

from . import selectors, services
from .forms import ManagerAlertsAdminForm
from .models import ManagerAlerts


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return selectors.MessageState.choices

    def queryset(self, request, queryset):
        value = self.value()
        if value in selectors.MessageState.values:
            return selectors.in_state(queryset, value)
        return queryset


STATE_COLOURS = {"waiting": "#8a6d00", "delivered": "#2e7d32", "failed": "#b00020"}


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    """Read-only: the services write the outbox; the one action re-queues."""

    list_display = [
        "created_at", "kind", "account_link", "rep", "state_shown", "email_state", "slack_state", "webhooks",
    ]
    list_display_links = ["created_at"]
    list_select_related = ["account", "rep__user"]
    list_filter = ["kind", StateFilter, "created_at", "email_state", "slack_state"]
    search_fields = ["=account__external_id", "=account__domain", "account__name"]
    search_help_text = "An account's exact external id or domain, or part of its name."
    ordering = ["-id"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    readonly_fields = [
        "message_id", "webhook_id", "kind", "account_link", "rep", "team", "status_change", "created_at",
        "state_shown", "payload_shown", "email_state", "slack_state", "attempts", "next_attempt_at",
        "delivered_at", "last_error", "webhook_state", "webhook_deliveries_shown",
    ]
    fieldsets = [
        (None, {"fields": ["kind", "account_link", "rep", "team", "created_at", "state_shown", "payload_shown"]}),
        (
            "Email and Slack",
            {"fields": ["email_state", "slack_state", "attempts", "next_attempt_at", "delivered_at", "last_error"]},
        ),
        ("Webhooks", {"fields": ["webhook_id", "webhook_state", "webhook_deliveries_shown"]}),
        ("Source", {"fields": ["message_id", "status_change"]}),
    ]
    actions = ["requeue"]

    def get_queryset(self, request):
        # No select_related here: the list's own (list_select_related) applies only to a queryset without one.
        return selectors.with_outcomes(super().get_queryset(request))

    def has_requeue_permission(self, request):
        # Re-queueing replays webhook deliveries: the deliveries' replay right.
        return self.has_view_permission(request) and request.user.has_perm("webhooks.change_delivery")

    @admin.display(description="account", ordering="account__name")
    def account_link(self, message):
        if message.account_id is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">admin</a>',
            reverse("account", args=[message.account_id]),
            message.account.name,
            reverse("admin:leads_account_change", args=[message.account_id]),
        )

    @admin.display(description="state", ordering="state")
    def state_shown(self, message):
        return format_html(
            '<strong style="color: {}">{}</strong>',
            STATE_COLOURS[message.state],
            selectors.MessageState(message.state).label,
        )

    @admin.display(description="webhooks")
    def webhooks(self, message):
        total = message.webhook_deliveries or 0
        if not total:
            return "-"
        failed = f", {message.webhook_failed} failed" if message.webhook_failed else ""
        return format_html(
            '<a href="{}?q={}">{} of {} delivered{}</a>',
            reverse("admin:webhooks_delivery_changelist"),
            message.webhook_id,
            message.webhook_delivered or 0,
            total,
            failed,
        )

    @admin.display(description="webhook-id")
    def webhook_id(self, message):
        return message.webhook_id

    @admin.display(description="payload")
    def payload_shown(self, message):
        return format_html("<pre>{}</pre>", json.dumps(message.change, indent=2, sort_keys=True))

    @admin.display(description="deliveries")
    def webhook_deliveries_shown(self, message):
        deliveries = list(selectors.webhook_deliveries(message))
        if not deliveries:
            return "None: no active endpoint wanted it, or it is not fanned out yet."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:webhooks_delivery_change", args=[d.pk]),
                    d.endpoint,
                    d.get_status_display(),
                    d.attempts,
                    d.last_response_code or "-",
                    d.last_error or "",
                )
                for d in deliveries
            ),
        )
        return format_html(
            "<table><tr><th>endpoint</th><th>status</th><th>attempts</th><th>last answer</th>"
            "<th>last error</th></tr>{}</table>",
            rows,
        )

    @admin.action(
        description="Re-queue: send what failed or is stuck again (alerts and webhooks)", permissions=["requeue"]
    )
    def requeue(self, request, queryset):
        requeued = services.requeue_messages(message_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            f"Re-queued {requeued.messages} alert message(s) and {requeued.webhook_deliveries} "
            "webhook deliver" + ("y" if requeued.webhook_deliveries == 1 else "ies") + ".",
            messages.SUCCESS,
        )


@admin.register(ManagerAlerts)
class ManagerAlertsAdmin(admin.ModelAdmin):
    """How each manager hears of unowned and overdue leads."""

    form = ManagerAlertsAdminForm
    list_display = ["__str__", "alert_timing", "has_slack", "digest_sent_at"]
    list_select_related = ["user"]
    list_filter = ["alert_timing"]
    search_fields = ["user__username", "user__email", "user__first_name", "user__last_name"]
    fields = ["user", "alert_timing", "slack_webhook_url", "digest_sent_at"]
    readonly_fields = ["digest_sent_at"]
    autocomplete_fields = ["user"]

    @admin.display(description="Slack", boolean=True)
    def has_slack(self, choice):
        return bool(choice.slack_webhook_url)

    def save_model(self, request, obj, form, change):
        """Through the service, as the settings page saves it."""
        saved = services.update_manager_alerts(
            user_id=form.cleaned_data["user"].pk,
            alert_timing=form.cleaned_data["alert_timing"],
            slack_webhook_url=form.cleaned_data["slack_webhook_url"],
        )
        obj.pk = saved.pk
        obj._state.adding = False


@admin.register(OutboxBatch)
class OutboxBatchAdmin(ReadOnlyAdmin):
    """Messages a large change wrote as one row, waiting for the next
    delivery pass to unfold them: for moments while a worker runs, until one
    does while none runs."""

    list_display = ["created_at", "messages"]
    fields = ["created_at", "messages"]
    readonly_fields = fields
    ordering = ["id"]

    def get_queryset(self, request):
        return selectors.batches_with_sizes()

    @admin.display(description="messages")
    def messages(self, batch: OutboxBatch) -> int:
        return batch.messages
