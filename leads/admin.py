"""Admin for sales ops: the book of accounts, people, events and reps,
usable on millions of events (no N+1, no full COUNT(*) on large lists)."""

import json
from datetime import datetime, timedelta
from functools import cached_property

from django import forms
from django.contrib import admin
from django.contrib.postgres.forms import SimpleArrayField
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, Max, Min, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from scoring.jobs import request_rescore

from .models import (
    OPEN_LEAD_STATUSES,
    Account,
    Event,
    Person,
    SalesRep,
    StatusCause,
    StatusChange,
    Tier,
    country_code,
)
from .services import change_status

LATEST_EVENTS_SHOWN = 20


class EstimatedCountPaginator(Paginator):
    """On PostgreSQL, a large list is counted from the planner's estimate.

    An exact COUNT(*) over millions of events costs seconds on every page
    load. The planner's row estimate for the same query (an EXPLAIN, about a
    millisecond) stands in when it is large; small lists are counted exactly.
    """

    exact_below = 100_000

    @cached_property
    def count(self):
        if connection.vendor == "postgresql":
            sql, params = self.object_list.query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
                plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            estimate = int(plan[0]["Plan"]["Plan Rows"])
            if estimate >= self.exact_below:
                return estimate
        return super().count


class CalendarQuerySet(QuerySet):
    """For the admin's date drill-down on millions of events.

    Django lists the years, months or days that have rows with a DISTINCT scan
    of the table; this lists every one between the first and the last row (two
    index lookups). A day without events shows an empty list.
    """

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        if bounds["first"] is None:
            return []
        zone = tzinfo or timezone.get_current_timezone()
        first, last = bounds["first"].astimezone(zone), bounds["last"].astimezone(zone)
        steps = []
        current = calendar_start(first, kind)
        while current <= last:
            steps.append(current)
            current = calendar_next(current, kind)
        return steps if order == "ASC" else steps[::-1]


def calendar_start(moment: datetime, kind: str) -> datetime:
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind in ("month", "year"):
        start = start.replace(day=1)
    if kind == "year":
        start = start.replace(month=1)
    return start


def calendar_next(moment: datetime, kind: str) -> datetime:
    if kind == "day":
        return moment + timedelta(days=1)  # wall-clock arithmetic: midnight stays midnight
    if kind == "month":
        return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)
    return moment.replace(year=moment.year + 1)


class OwnerFilter(admin.RelatedFieldListFilter):
    """Reps with their users in one query (a rep is shown by its user's name)."""

    def field_choices(self, field, request, model_admin):
        return [(rep.pk, str(rep)) for rep in SalesRep.objects.select_related("user")]


class PersonInline(admin.TabularInline):
    model = Person
    fields = ["name", "email", "title", "first_seen_at", "last_seen_at"]
    readonly_fields = ["first_seen_at", "last_seen_at"]
    extra = 0
    show_change_link = True


class StatusChangeInline(admin.TabularInline):
    model = StatusChange
    fields = ["changed_at", "from_status", "to_status", "cause", "changed_by", "reason"]
    readonly_fields = fields
    ordering = ["-changed_at", "-id"]
    extra = 0
    can_delete = False
    verbose_name_plural = "status history"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "domain",
        "industry",
        "country",
        "employee_count",
        "plan",
        "status",
        "owner",
        "signed_up_at",
        "last_event_at",
    ]
    list_select_related = ["owner__user"]
    list_filter = ["status", "plan", "industry", "country", ("owner", OwnerFilter)]
    search_fields = ["name", "domain", "=external_id"]
    show_full_result_count = False
    date_hierarchy = "signed_up_at"
    autocomplete_fields = ["owner"]
    readonly_fields = ["last_event_at", "created_at", "updated_at", "latest_events"]
    fieldsets = [
        (None, {"fields": ["name", "domain", "external_id", "status", "owner"]}),
        (
            "Fit",
            {"fields": ["industry", "country", "employee_count", "plan", "traits"]},
        ),
        (
            "Trial",
            {"fields": ["signed_up_at", "trial_ends_at", "last_event_at"]},
        ),
        ("Latest events", {"fields": ["latest_events"]}),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]
    inlines = [PersonInline, StatusChangeInline]
    paginator = EstimatedCountPaginator

    @admin.display(description="latest events")
    def latest_events(self, account):
        if account.pk is None:
            return "-"
        events = account.events.select_related("person").order_by("-occurred_at")[
            :LATEST_EVENTS_SHOWN
        ]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            (
                (
                    f"{event.occurred_at:%Y-%m-%d %H:%M}",
                    event.name,
                    event.person or "",
                    event.properties or "",
                )
                for event in events
            ),
        )
        link = reverse("admin:leads_event_changelist") + f"?account__id__exact={account.pk}"
        return format_html(
            '<table><thead><tr><th>When</th><th>Event</th><th>Person</th><th>Properties</th>'
            "</tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All events of this account</a></p>',
            rows or format_html("<tr><td colspan=4>No events yet.</td></tr>"),
            link,
        )

    def save_model(self, request, obj, form, change):
        """A status edited here goes through change_status, so it is recorded."""
        if change and "status" in form.changed_data:
            new_status = obj.status
            obj.status = form.initial["status"]
            super().save_model(request, obj, form, change)
            change_status(
                account_id=obj.pk,
                to_status=new_status,
                cause=StatusCause.USER,
                changed_by=request.user,
                reason="Changed in the admin.",
            )
            obj.refresh_from_db(fields=["status", "updated_at"])
        else:
            super().save_model(request, obj, form, change)


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["__str__", "email", "title", "account", "first_seen_at", "last_seen_at"]
    list_select_related = ["account"]
    search_fields = ["name", "email", "=external_id", "title"]
    autocomplete_fields = ["account"]
    ordering = ["-pk"]  # newest first, from the primary key index
    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "person", "occurred_at", "source", "received_at"]
    list_select_related = ["account", "person"]
    search_fields = ["=name", "=message_id", "=account__external_id"]
    search_help_text = "Exact event name, message id or account external id."
    date_hierarchy = "occurred_at"
    raw_id_fields = ["account", "person"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return CalendarQuerySet(model=queryset.model, query=queryset.query, using=queryset.db)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # The event's account and, when it was moved, the one it left.
        touched = {obj.account_id, form.initial.get("account")}
        request_rescore(account_id for account_id in touched if account_id)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        request_rescore([obj.account_id])

    def get_search_results(self, request, queryset, search_term):
        """Exact matches only, each on an index; the account is matched by a
        subquery, since a join in the OR would scan every event."""
        term = search_term.strip()
        if not term:
            return queryset, False
        accounts = Account.objects.filter(external_id=term).values("pk")
        matches = Q(name=term) | Q(message_id=term) | Q(account_id__in=accounts)
        return queryset.filter(matches), False


class CountryCodeField(forms.CharField):
    """Accepts "gb" as well as "GB"."""

    def to_python(self, value):
        return super().to_python(value).upper()


class SalesRepForm(forms.ModelForm):
    countries = SimpleArrayField(
        CountryCodeField(max_length=2, validators=[country_code]),
        required=False,
        help_text="Comma-separated ISO codes, e.g. US,CA. Empty means any.",
    )
    tiers = SimpleArrayField(
        forms.ChoiceField(choices=Tier.choices),
        required=False,
        help_text="Comma-separated: small, mid, large. Empty means any.",
    )
    industries = SimpleArrayField(
        forms.CharField(max_length=100),
        required=False,
        help_text="Comma-separated industries, e.g. legal,accounting. Empty means any.",
    )

    class Meta:
        model = SalesRep
        fields = ["user", "is_active", "capacity", "countries", "tiers", "industries"]


@admin.register(SalesRep)
class SalesRepAdmin(admin.ModelAdmin):
    form = SalesRepForm
    list_display = ["__str__", "is_active", "capacity", "open_leads", "countries", "tiers", "industries"]
    list_filter = ["is_active"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "user__email"]
    raw_id_fields = ["user"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                open_lead_count=Count("accounts", filter=Q(accounts__status__in=OPEN_LEAD_STATUSES))
            )
        )

    @admin.display(description="open leads", ordering="open_lead_count")
    def open_leads(self, rep):
        return rep.open_lead_count


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records the services append and nobody edits."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StatusChange)
class StatusChangeAdmin(ReadOnlyAdmin):
    """Read-only: the history is appended by the services, never edited."""

    list_display = ["account", "from_status", "to_status", "changed_at", "cause", "changed_by"]
    list_select_related = ["account", "changed_by"]
    list_filter = ["to_status", "cause"]
    date_hierarchy = "changed_at"
    raw_id_fields = ["account", "changed_by"]
    search_fields = ["=account__external_id", "account__name"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
