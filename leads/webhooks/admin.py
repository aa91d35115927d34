"""Webhooks in the admin: managers add endpoints (the signing secret is shown
once, on creation or rotation), and see every delivery and attempt, with
replay."""

from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from pqlsite.admin import EstimatedCountPaginator, ReadOnlyAdmin

from . import delivery, endpoints
from .forms import EndpointForm
from .jobs import request_delivery
from .models import Attempt, Delivery, DeliveryStatus, Endpoint
from .targets import display_url

RECENT_ATTEMPTS_SHOWN = 25
SECRET_PAGE = "admin/webhooks/endpoint/secret.html"  # noqa: S105 (a template name)


class RecentAttemptInline(admin.TabularInline):
    """The endpoint's latest attempts (all of them: the attempts list)."""

    model = Attempt
    readonly_fields = ["attempted_at", "delivery", "response_code", "outcome", "duration_ms", "error"]
    fields = tuple(readonly_fields)
    extra = 0
    can_delete = False
    verbose_name_plural = f"latest {RECENT_ATTEMPTS_SHOWN} attempts"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        object_id = (request.resolver_match.kwargs.get("object_id") or "") if request.resolver_match else ""
        if not object_id.isdigit():
            return queryset.none()
        recent = (
            Attempt.objects.filter(endpoint_id=int(object_id))
            .order_by("-attempted_at", "-id")
            .values("pk")[:RECENT_ATTEMPTS_SHOWN]
        )
        return queryset.filter(pk__in=Subquery(recent)).select_related("delivery")


def pending_count():
    return Subquery(
        Delivery.objects.filter(endpoint=OuterRef("pk"), status=DeliveryStatus.PENDING)
        .order_by()
        .values("endpoint")
        .annotate(count=Count("*"))
        .values("count"),
        output_field=IntegerField(),
    )


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = [
        "__str__", "shown_url", "is_active", "event_types_shown", "pending",
        "last_success_at", "failing_since", "paused_until",
    ]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    readonly_fields = [
        "signing_secret", "created_at", "created_by", "last_success_at", "failing_since",
        "consecutive_failures", "paused_until", "disabled_at", "disabled_reason", "attempts_link",
    ]
    fieldsets = [
        (None, {"fields": ["url", "description", "event_types", "is_active", "signing_secret"]}),
        (
            "Health",
            {
                "fields": [
                    "last_success_at", "failing_since", "consecutive_failures", "paused_until",
                    "disabled_at", "disabled_reason", "attempts_link",
                ]
            },
        ),
        ("Created", {"fields": ["created_at", "created_by"]}),
    ]
    inlines = [RecentAttemptInline]
    actions = ["rotate_secrets", "turn_back_on", "replay_failed"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(pending_deliveries=pending_count())

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["url", "description", "event_types", "is_active"]})]
        return self.fieldsets

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    @admin.display(description="URL")
    def shown_url(self, endpoint):
        return display_url(endpoint.url)

    @admin.display(description="events")
    def event_types_shown(self, endpoint):
        return ", ".join(endpoint.event_types)

    @admin.display(description="pending", ordering="pending_deliveries")
    def pending(self, endpoint):
        return endpoint.pending_deliveries or 0

    @admin.display(description="signing secret")
    def signing_secret(self, endpoint):
        return "Shown once, when made. Rotate it (in the list's actions) to get a new one."

    @admin.display(description="attempts")
    def attempts_link(self, endpoint):
        url = reverse("admin:webhooks_attempt_changelist") + f"?endpoint__id__exact={endpoint.pk}"
        deliveries = reverse("admin:webhooks_delivery_changelist") + f"?endpoint__id__exact={endpoint.pk}"
        return format_html('<a href="{}">All attempts</a> · <a href="{}">All deliveries</a>', url, deliveries)

    def save_model(self, request, obj, form, change):
        """Through the endpoint services: the URL is vetted on every save."""
        fields = {name: form.cleaned_data[name] for name in ("url", "event_types", "description", "is_active")}
        if change:
            endpoints.update_endpoint(obj, **fields)
            return
        endpoint, _ = endpoints.create_endpoint(**fields, created_by=request.user)
        obj.pk = endpoint.pk
        obj._state.adding = False
        obj.refresh_from_db()

    def response_add(self, request, obj, post_url_continue=None):
        """The secret, once: rendered into this response, never stored in a
        message or the session, never shown on a later page."""
        return self.secret_page(request, [(obj, obj.secret)], title="Endpoint added")

    def secret_page(self, request, made, *, title):
        return TemplateResponse(
            request,
            SECRET_PAGE,
            {
                **self.admin_site.each_context(request),
                "title": title,
                "made": made,
                "opts": self.model._meta,
                "changelist_url": reverse("admin:webhooks_endpoint_changelist"),
            },
        )

    @admin.action(description="Rotate the signing secret (the old one signs too for a day)", permissions=["change"])
    def rotate_secrets(self, request, queryset):
        made = []
        for endpoint in queryset:
            made.append((endpoint, endpoints.rotate_secret(endpoint)))
            self.log_change(request, endpoint, "Rotated the signing secret.")
        return self.secret_page(request, made, title="New signing secrets")

    @admin.action(description="Turn back on (clears failures; what waited is sent)", permissions=["change"])
    def turn_back_on(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        endpoints.reactivate(queryset)
        request_delivery(ids)
        self.message_user(request, f"Turned {len(ids)} endpoint(s) back on.")

    @admin.action(description="Replay failed deliveries", permissions=["change"])
    def replay_failed(self, request, queryset):
        failed = Delivery.objects.filter(endpoint__in=queryset, status=DeliveryStatus.FAILED)
        count = failed.count()
        request_delivery(delivery.replay(failed))
        self.message_user(request, f"{count} failed deliver{'y' if count == 1 else 'ies'} will be sent again.")


class AttemptInline(admin.TabularInline):
    model = Attempt
    readonly_fields = ["attempted_at", "response_code", "outcome", "duration_ms", "error"]
    fields = tuple(readonly_fields)
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Every (message, endpoint) pair; read-only but for replay."""

    list_display = [
        "message_id", "event_type", "endpoint", "account", "status", "attempts",
        "next_attempt_at", "last_response_code", "short_error", "created_at",
    ]
    list_select_related = ["endpoint", "account"]
    list_filter = ["status", "event_type", "endpoint"]
    search_fields = ["=message_id", "=account__external_id"]
    search_help_text = "Exact webhook-id or account external id."
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    readonly_fields = [
        "message_id", "event_type", "endpoint", "account", "status", "attempts", "created_at",
        "next_attempt_at", "delivered_at", "last_attempt_at", "last_response_code", "last_error", "body",
    ]
    fields = tuple(readonly_fields)
    inlines = [AttemptInline]
    actions = ["replay"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="last error")
    def short_error(self, delivery):
        return delivery.last_error[:80]

    @admin.action(description="Replay (send again under the same webhook-id)", permissions=["change"])
    def replay(self, request, queryset):
        count = queryset.count()
        request_delivery(delivery.replay(queryset))
        self.message_user(request, f"{count} deliver{'y' if count == 1 else 'ies'} will be sent again.", messages.SUCCESS)


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    """Every attempt: when, the answer, how long it took."""

    readonly_fields = ["attempted_at", "endpoint", "delivery", "response_code", "outcome", "duration_ms", "error"]
    list_display = tuple(readonly_fields)
    fields = tuple(readonly_fields)
    list_select_related = ["endpoint", "delivery"]
    list_filter = ["outcome", "endpoint"]
    search_fields = ["=delivery__message_id"]
    search_help_text = "Exact webhook-id."
    paginator = EstimatedCountPaginator
    show_full_result_count = False

