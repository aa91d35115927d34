"""Admin for sales ops: the book of accounts, people, events, reps and their
routing, usable on millions of events (no N+1, no full COUNT(*) on large lists)."""

from datetime import datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.postgres.forms import SimpleArrayField
from django.db import models
from django.db.models import Count, Max, Min, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django_rq.admin import QueueAdmin
from django_rq.models import Dashboard

from pqlsite.admin import EstimatedCountPaginator, ReadOnlyAdmin
from scoring.jobs import request_rescore

from .forms import JSONObjectField
from .ingest.history.resources import (
    AccountResource,
    HistoryImportMixin,
    OutcomeResource,
    PersonResource,
    SalesRepResource,
)
from .models import (
    Account,
    Event,
    PendingEvent,
    Person,
    RoutingRule,
    SalesRep,
    Source,
    StatusCause,
    StatusChange,
    Team,
    Tier,
    country_code,
)
from .routing import assign_new_pqls, closed_refusal, deactivate_rep, hand_refusal, reassign_by_hand
from .services import FIT_FIELDS, change_status, fit_data_changed, update_account

LATEST_EVENTS_SHOWN = 20


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
    readonly_fields = ["changed_at", "from_status", "to_status", "cause", "changed_by", "reason"]
    fields = tuple(readonly_fields)
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


# Traits and properties are JSON objects: ingest merges into them key by key.
JSON_OBJECTS: dict[type[models.Field], dict] = {models.JSONField: {"form_class": JSONObjectField}}


class AccountForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = [
            "name", "domain", "external_id", "status", "owner", "industry", "country",
            "employee_count", "plan", "traits", "signed_up_at", "trial_ends_at",
        ]
        field_classes = {"traits": JSONObjectField}

    def clean(self):
        """An owner changed here is a hand assignment: refuse what
        reassign_by_hand would, as a form error rather than after saving."""
        cleaned = super().clean()
        if self.instance.pk is None or "owner" not in self.changed_data:
            return cleaned
        problem = closed_refusal(self.instance.name, cleaned.get("status") or self.instance.status)
        owner = cleaned.get("owner")
        if problem is None and owner is not None:
            problem = hand_refusal(
                rep=owner,
                active=owner.is_active and owner.user.is_active,
                open_leads=Account.objects.open_leads().filter(owner=owner).count(),
                capacity=owner.capacity,
                incoming=1,
            )
        if problem:
            self.add_error("owner", problem)
        return cleaned


@admin.register(Account)
class AccountAdmin(HistoryImportMixin, admin.ModelAdmin):
    form = AccountForm
    resource_classes = [AccountResource]
    list_display = [
        "name",
        "industry",
        "country",
        "employee_count",
        "plan",
        "status",
        "account_score",
        "account_tier",
        "account_qualifies",
        "owner",
        "signed_up_at",
    ]
    list_select_related = ["owner__user", "score"]
    list_filter = ["status", "plan", "industry", "country", ("owner", OwnerFilter)]
    search_fields = ["name", "domain", "=external_id"]
    show_full_result_count = False
    date_hierarchy = "signed_up_at"
    autocomplete_fields = ["owner"]
    readonly_fields = [
        "assigned_at", "sla_due_at", "last_event_at", "created_at", "updated_at", "latest_events"
    ]
    fieldsets = [
        (None, {"fields": ["name", "domain", "external_id", "status", "owner"]}),
        ("Assignment", {"fields": ["assigned_at", "sla_due_at"]}),
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
    actions = ["route_by_the_rules"]

    @admin.display(description="score", ordering="score__score")
    def account_score(self, account):
        score = getattr(account, "score", None)
        return "—" if score is None else score.score

    @admin.display(description="tier", ordering="score__tier")
    def account_tier(self, account):
        score = getattr(account, "score", None)
        return "—" if score is None else score.get_tier_display()

    @admin.display(description="qualifies", boolean=True, ordering="score__qualifies")
    def account_qualifies(self, account):
        score = getattr(account, "score", None)
        return None if score is None else score.qualifies

    def get_readonly_fields(self, request, obj=None):
        # The CDP's groupId: set when the account is added, never changed, or
        # the next group call with the old id would create a second account.
        return [*self.readonly_fields, "external_id"] if obj else self.readonly_fields

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
            rows or format_html("<tr><td colspan=4>{}</td></tr>", "No events yet."),
            link,
        )

    def save_model(self, request, obj, form, change):
        """The services write what is edited here: fit data through
        update_account (and a rescore when it changed), a status through
        change_status and an owner through reassign_by_hand, so both are
        recorded (status first, then owner). A new account is scored at once."""
        if not change:
            super().save_model(request, obj, form, change)
            request_rescore([obj.pk])
            return
        edited = {name: form.cleaned_data[name] for name in form.changed_data if name in FIT_FIELDS}
        current = Account.objects.get(pk=obj.pk)
        if fit_data_changed(update_account(account=current, **edited)):
            request_rescore([obj.pk])
        if "status" in form.changed_data:
            change_status(
                account_id=obj.pk,
                to_status=form.cleaned_data["status"],
                cause=StatusCause.USER,
                changed_by=request.user,
                reason="Changed in the admin.",
            )
        if "owner" in form.changed_data:
            try:
                reassign_by_hand([obj.pk], form.cleaned_data["owner"], changed_by=request.user)
            except ValueError as refusal:  # the rep filled up since the form was checked
                self.message_user(request, f"Owner not changed: {refusal}", messages.ERROR)
        obj.refresh_from_db()

    @admin.action(description="Route selected PQLs by the routing rules", permissions=["change"])
    def route_by_the_rules(self, request, queryset):
        selected = list(queryset.values_list("pk", flat=True))
        routed = assign_new_pqls(selected)
        self.message_user(
            request,
            f"{len(routed)} of {len(selected)} selected accounts went to a rep. Only PQLs "
            "without an owner are routed; the others stay as they were.",
        )


@admin.register(Person)
class PersonAdmin(HistoryImportMixin, admin.ModelAdmin):
    resource_classes = [PersonResource]
    list_display = ["__str__", "email", "title", "account", "first_seen_at", "last_seen_at"]
    list_select_related = ["account"]
    search_fields = ["name", "email", "=external_id", "=anonymous_id", "title"]
    autocomplete_fields = ["account"]
    ordering = ["-pk"]  # newest first, from the primary key index
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    formfield_overrides = JSON_OBJECTS


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
    formfield_overrides = JSON_OBJECTS

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


class CoverageForm(forms.ModelForm):
    """Countries, tiers and industries as comma-separated lists; empty means any."""

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


class SalesRepForm(CoverageForm):
    class Meta:
        model = SalesRep
        fields = [
            "user",
            "is_active",
            "capacity",
            "countries",
            "tiers",
            "industries",
            "manager",
            "away_from",
            "away_until",
            "alert_timing",
            "alert_by_email",
            "alert_by_slack",
        ]

    def clean(self):
        super().clean()
        away_from, away_until = self.cleaned_data.get("away_from"), self.cleaned_data.get("away_until")
        if away_from and away_until and away_from >= away_until:
            self.add_error("away_until", "The return must come after the start of the absence.")
        return self.cleaned_data


@admin.register(SalesRep)
class SalesRepAdmin(HistoryImportMixin, admin.ModelAdmin):
    form = SalesRepForm
    resource_classes = [SalesRepResource]
    list_display = [
        "__str__", "is_active", "capacity", "open_leads", "rep_countries", "rep_tiers",
        "rep_industries", "away_until",
    ]  # fmt: skip
    list_filter = ["is_active", "alert_timing"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "user__email"]
    # A stable order for the list and for the owner autocomplete's pages.
    ordering = ["user__first_name", "user__last_name", "pk"]
    raw_id_fields = ["user", "manager"]
    actions = ["deactivate_and_reassign"]

    @admin.display(description="countries")
    def rep_countries(self, rep):
        return any_if_empty(rep.countries)

    @admin.display(description="tiers")
    def rep_tiers(self, rep):
        return any_if_empty(rep.tiers)

    @admin.display(description="industries")
    def rep_industries(self, rep):
        return any_if_empty(rep.industries)

    def get_queryset(self, request):
        return super().get_queryset(request).with_open_leads()

    @admin.display(description="open leads", ordering="open_lead_count")
    def open_leads(self, rep):
        return rep.open_lead_count

    @admin.action(description="Deactivate and reassign their open leads", permissions=["change"])
    def deactivate_and_reassign(self, request, queryset):
        reps = list(queryset.select_related("user"))
        moved = []
        for rep in reps:
            moved += deactivate_rep(rep, changed_by=request.user)
        self.message_user(
            request, f"{plural(len(reps), 'rep')} deactivated. " + reassigned_words(moved)
        )

    def save_model(self, request, obj, form, change):
        """Unticking "active" deactivates the rep through deactivate_rep, so
        their open leads are reassigned by the rules."""
        if change and "is_active" in form.changed_data and not obj.is_active:
            moved = deactivate_rep(obj, changed_by=request.user)
            super().save_model(request, obj, form, change)
            self.message_user(request, f"{obj} deactivated. " + reassigned_words(moved))
        else:
            super().save_model(request, obj, form, change)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def reassigned_words(account_ids: list[int]) -> str:
    unassigned = Account.objects.filter(pk__in=account_ids, owner__isnull=True).count()
    return (
        f"{plural(len(account_ids) - unassigned, 'open lead')} went to other reps, "
        f"{unassigned} to the unassigned queue."
    )


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "member_count", "sla_hours"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    search_fields = ["name"]
    filter_horizontal = ["members"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("members", distinct=True))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, team):
        return team.member_count

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "members":
            # A rep is shown by its user's name: one query, not one per rep.
            kwargs["queryset"] = SalesRep.objects.select_related("user")
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class RoutingRuleForm(CoverageForm):
    class Meta:
        model = RoutingRule
        fields = ["position", "name", "is_active", "countries", "tiers", "industries", "team"]


def any_if_empty(values) -> str:
    return ", ".join(values) if values else "any"


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    """Where new PQLs go; the first active rule by position that matches wins."""

    form = RoutingRuleForm
    list_display = [
        "position", "name", "rule_countries", "rule_tiers", "rule_industries", "team", "is_active"
    ]
    list_display_links = ["name"]
    list_editable = ["position", "is_active"]
    list_select_related = ["team"]
    list_filter = ["is_active", "team"]
    search_fields = ["name"]
    autocomplete_fields = ["team"]
    ordering = ["position", "id"]

    @admin.display(description="countries")
    def rule_countries(self, rule):
        return any_if_empty(rule.countries)

    @admin.display(description="tiers")
    def rule_tiers(self, rule):
        return any_if_empty(rule.tiers)

    @admin.display(description="industries")
    def rule_industries(self, rule):
        return any_if_empty(rule.industries)


@admin.register(StatusChange)
class StatusChangeAdmin(HistoryImportMixin, ReadOnlyAdmin):
    """Read-only: the history is appended by the services, never edited;
    past outcomes from a CRM are imported (recorded through the services)."""

    resource_classes = [OutcomeResource]
    list_display = ["account", "from_status", "to_status", "changed_at", "cause", "changed_by"]
    list_select_related = ["account", "changed_by"]
    list_filter = ["to_status", "cause"]
    date_hierarchy = "changed_at"
    raw_id_fields = ["account", "changed_by"]
    search_fields = ["=account__external_id", "account__name"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    """Where events come from; each source's write key only ingests (/v1/)."""

    list_display = ["name", "slug", "is_active", "write_key_start", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["write_key", "created_at"]
    fields = ["name", "slug", "is_active", "write_key", "created_at"]

    @admin.display(description="write key")
    def write_key_start(self, source):
        # The list shows only the start; the full key is on the source's page.
        return f"{source.write_key[:6]}…"

    def get_readonly_fields(self, request, obj=None):
        # The slug is stored with every event: renaming it later would split dedupe.
        return [*self.readonly_fields, "slug"] if obj else self.readonly_fields

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj else self.prepopulated_fields


@admin.register(PendingEvent)
class PendingEventAdmin(ReadOnlyAdmin):
    """Read-only: events waiting for a group call to link their person to an account."""

    list_display = ["name", "user_id", "anonymous_id", "occurred_at", "source", "received_at"]
    list_filter = ["source"]
    search_fields = ["=user_id", "=anonymous_id", "=message_id"]
    search_help_text = "Exact user id, anonymous id or message id."
    paginator = EstimatedCountPaginator
    show_full_result_count = False


class JobDashboardAdmin(QueueAdmin):
    """django-rq's job dashboard in the admin. Its model has no table, so its
    object pages say there is no such object instead of failing on the
    database. Its rq-scheduler page is left out: rescores are scheduled by
    RQ's own cron, and without rq-scheduler that page can only fail."""

    def get_object(self, request, object_id, from_field=None):
        return None

    def get_urls(self):
        return [url for url in super().get_urls() if url.name != "django_rq_scheduler_jobs"]


# django_rq's own admin module registered it already: it comes first in INSTALLED_APPS.
if admin.site.is_registered(Dashboard):
    admin.site.unregister(Dashboard)
    admin.site.register(Dashboard, JobDashboardAdmin)
