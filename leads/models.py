"""The lead data sales works with: accounts, their people, usage events, reps
and the append-only history of each account's lead status."""

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Count, F, Q
from django.utils import timezone

from . import lookups  # noqa: F401 (registers the pk__any lookup)
from .timestamps import event_time, planned_time, signup_time


class Plan(models.TextChoices):
    FREE = "free", "Free"
    TRIAL = "trial", "Trial"
    PAID = "paid", "Paid"


class Tier(models.TextChoices):
    """Opportunity size; scoring derives it from the employee count."""

    SMALL = "small", "Small"
    MID = "mid", "Mid-size"
    LARGE = "large", "Large"


class LeadStatus(models.TextChoices):
    SIGNED_UP = "signed_up", "Signed up"
    PQL = "pql", "PQL"
    ASSIGNED = "assigned", "Assigned"
    CONTACTED = "contacted", "Contacted"
    CONVERTED = "converted", "Converted"
    DISQUALIFIED = "disqualified", "Disqualified"


# A lead is open from PQL until a person closes it (converted or disqualified).
OPEN_LEAD_STATUSES = frozenset({LeadStatus.PQL, LeadStatus.ASSIGNED, LeadStatus.CONTACTED})

country_code = RegexValidator(r"^[A-Z]{2}$", "Use a two-letter ISO 3166 country code, e.g. US.")


class AlertTiming(models.TextChoices):
    INSTANT = "instant", "At once"
    DIGEST = "digest", "In a daily digest"


class SalesRepQuerySet(models.QuerySet):
    def with_open_leads(self):
        """Each rep with `open_lead_count`, their open leads (PQL, assigned,
        contacted), counted in the same query."""
        return self.annotate(
            open_lead_count=Count("accounts", filter=Q(accounts__status__in=OPEN_LEAD_STATUSES))
        )


class SalesRep(models.Model):
    """A user who works leads, with what they cover and how many they can hold."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sales_rep"
    )
    is_active = models.BooleanField(
        "active", default=True, help_text="Inactive reps get no new leads."
    )
    capacity = models.PositiveIntegerField(default=50, help_text="Most open leads at once.")
    countries = models.JSONField(
        default=list, blank=True, help_text="ISO country codes covered; empty means any."
    )
    tiers = models.JSONField(default=list, blank=True, help_text="Tiers covered; empty means any.")
    industries = models.JSONField(
        default=list, blank=True, help_text="Industries covered; empty means any."
    )
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_reps",
        help_text="Hears of this rep's late and escalated leads; empty means every sales manager.",
    )
    away_from = models.DateTimeField(
        null=True, blank=True, help_text="Away (no new leads) from this time; empty means from now."
    )
    away_until = models.DateTimeField(
        null=True, blank=True, help_text="Back at this time; empty means not away."
    )
    alert_timing = models.CharField(
        "alerts", max_length=10, choices=AlertTiming.choices, default=AlertTiming.INSTANT
    )
    alert_by_email = models.BooleanField("alerts by email", default=True)
    alert_by_slack = models.BooleanField(
        "alerts in Slack", default=True, help_text="Posted to the team's Slack channel."
    )
    digest_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    queue_seen_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the rep last opened their queue."
    )

    objects = SalesRepQuerySet.as_manager()

    class Meta:
        verbose_name = "sales rep"
        ordering = ["user__username"]
        constraints = [
            models.CheckConstraint(
                condition=Q(away_from__isnull=True)
                | Q(away_until__isnull=True)
                | Q(away_from__lt=F("away_until")),
                name="salesrep_away_from_before_until",
            ),
        ]

    def __str__(self):
        return self.user.get_full_name() or self.user.get_username()

    def is_away(self, at) -> bool:
        return is_away(self.away_from, self.away_until, at)


def is_away(away_from, away_until, at) -> bool:
    """Away from `away_from` (or now, when empty) until `away_until`."""
    return away_until is not None and at < away_until and (away_from is None or away_from <= at)


def away_at(at) -> Q:
    """The reps away at `at`, as a filter: is_away in SQL."""
    return Q(away_until__gt=at) & (Q(away_from__isnull=True) | Q(away_from__lte=at))


class AccountQuerySet(models.QuerySet):
    def pql(self):
        return self.filter(status=LeadStatus.PQL)

    def open_leads(self):
        return self.filter(status__in=OPEN_LEAD_STATUSES)


class Account(models.Model):
    """A company or workspace on a trial or free plan: what sales works."""

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True, db_index=True)
    industry = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True, validators=[country_code])
    employee_count = models.PositiveIntegerField(null=True, blank=True)
    plan = models.CharField(max_length=10, choices=Plan.choices, default=Plan.TRIAL)
    signed_up_at = models.DateTimeField(default=timezone.now, validators=[signup_time])
    trial_ends_at = models.DateTimeField(null=True, blank=True, validators=[planned_time])
    external_id = models.CharField(
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        help_text="The id the product and the customer data platform use (Segment groupId).",
    )
    traits = models.JSONField(default=dict, blank=True)
    # Indexed through (owner, status) below: every status change writes each
    # index of the table again, so none is kept twice.
    owner = models.ForeignKey(
        SalesRep, null=True, blank=True, on_delete=models.SET_NULL, related_name="accounts", db_index=False
    )
    status = models.CharField(
        max_length=20, choices=LeadStatus.choices, default=LeadStatus.SIGNED_UP
    )
    assigned_at = models.DateTimeField(
        null=True, blank=True, help_text="When the current owner got the account."
    )
    sla_due_at = models.DateTimeField(
        null=True, blank=True, help_text="When the owner should have made contact."
    )
    last_event_at = models.DateTimeField(null=True, blank=True, validators=[event_time])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["-signed_up_at"]
        indexes = [
            models.Index(fields=["owner", "status"], name="account_owner_status"),
            models.Index(fields=["status", "signed_up_at"], name="account_status_signup"),
            models.Index(fields=["signed_up_at"], name="account_signup"),
        ]

    def __str__(self):
        return self.name


class Person(models.Model):
    """A user of the product; the account link may arrive after the person.

    A visitor who sent traits before signing in is a person with only an
    anonymous id; identifying them folds that row into the user's.
    """

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="people"
    )
    external_id = models.CharField(
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        help_text="The product's user id (Segment userId).",
    )
    anonymous_id = models.CharField(
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        help_text="A visitor known only by this id (Segment anonymousId) until identified.",
    )
    email = models.EmailField(blank=True, db_index=True)
    name = models.CharField(max_length=200, blank=True)
    title = models.CharField("job title", max_length=200, blank=True)
    traits = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(null=True, blank=True, validators=[event_time])
    last_seen_at = models.DateTimeField(null=True, blank=True, validators=[event_time])

    class Meta:
        verbose_name_plural = "people"
        ordering = ["name", "email"]

    def __str__(self):
        return (
            self.name
            or self.email
            or self.external_id
            or (f"visitor {self.anonymous_id}" if self.anonymous_id else f"person {self.pk}")
        )

    def clean(self):
        if not (self.email or self.name or self.external_id or self.anonymous_id):
            raise ValidationError("Give the person at least an email, a name or a user id.")


def new_message_id():
    return uuid.uuid4().hex


class Event(models.Model):
    """Something a person or account did in the product.

    (source, message_id) is unique so that a client resending a batch stores
    each event once.
    """

    # No single-column index on account: the (account, name, occurred_at)
    # index leads with it and serves every per-account read.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    name = models.CharField(max_length=200)
    properties = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(validators=[event_time])
    received_at = models.DateTimeField(default=timezone.now, validators=[event_time])
    source = models.CharField(max_length=100, default="api")
    message_id = models.CharField(max_length=100, default=new_message_id)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            # message_id leads so that the admin's exact search by message id is indexed.
            models.UniqueConstraint(
                fields=["message_id", "source"], name="event_unique_message_per_source"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "name", "occurred_at"], name="event_account_name_time"),
            models.Index(fields=["occurred_at"], name="event_time"),
            # The admin's exact search by event name, newest first, and its count.
            models.Index(fields=["name", "occurred_at"], name="event_name_time"),
            # An account's timeline, newest first, one page at a time.
            models.Index(fields=["account", "-occurred_at"], name="event_account_timeline"),
        ]

    def __str__(self):
        return f"{self.name} at {self.occurred_at:%Y-%m-%d %H:%M}"


class StatusCause(models.TextChoices):
    USER = "user", "A user"
    SCORING = "scoring", "Scoring"
    ROUTING = "routing", "Routing"
    IMPORT = "import", "Import"


class StatusChangeQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Status changes are append-only.")


class StatusChange(models.Model):
    """One change of an account's lead status, kept for ever: metrics come from it.

    Rows are only ever appended, through leads.services.record_transitions.
    """

    # Indexed through (account, changed_at) below.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="status_changes", db_index=False
    )
    from_status = models.CharField(max_length=20, choices=LeadStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=LeadStatus.choices)
    changed_at = models.DateTimeField(default=timezone.now)
    cause = models.CharField(max_length=20, choices=StatusCause.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(
        SalesRep,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The rep holding the account after the change.",
    )

    objects = StatusChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["account", "changed_at"], name="statuschange_account_time"),
            models.Index(fields=["to_status", "changed_at"], name="statuschange_to_time"),
        ]

    def __str__(self):
        return f"{self.from_status or '-'} -> {self.to_status}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Status changes are append-only.")
        super().save(*args, **kwargs)


class Team(models.Model):
    """Reps who share leads; routing rules send accounts to a team."""

    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(SalesRep, related_name="teams", blank=True)
    sla_hours = models.PositiveIntegerField(
        "SLA hours",
        default=24,
        help_text="Hours a rep has to make first contact with a new lead.",
    )
    slack_webhook_url = models.URLField(
        "Slack webhook URL",
        max_length=500,
        blank=True,
        help_text="A Slack incoming-webhook URL: the team's alerts are posted to its channel.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class RoutingRule(models.Model):
    """Where new PQLs go: the first active rule (by position) that matches wins.

    An empty list matches any value.
    """

    position = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(max_length=100)
    is_active = models.BooleanField("active", default=True)
    countries = models.JSONField(default=list, blank=True, help_text="ISO codes; empty means any.")
    tiers = models.JSONField(default=list, blank=True, help_text="small, mid, large; empty means any.")
    industries = models.JSONField(default=list, blank=True, help_text="Empty means any.")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="rules")

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.name


class Note(models.Model):
    """What a rep wrote down about an account."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(max_length=5000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "created_at"], name="note_account_time")]

    def __str__(self):
        return f"Note on {self.account_id} at {self.created_at:%Y-%m-%d %H:%M}"


def new_write_key():
    return uuid.uuid4().hex + uuid.uuid4().hex[:8]


class Source(models.Model):
    """Where events come from (the product, a CDP): its write key only ingests."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(
        max_length=50, unique=True, help_text="Stored with each event; message ids are unique per source."
    )
    write_key = models.CharField(max_length=64, unique=True, default=new_write_key)
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class PendingEvent(models.Model):
    """An event whose person is not linked to an account yet; it becomes an
    Event when the link (a group call) arrives, so nothing is dropped."""

    source = models.CharField(max_length=100)
    message_id = models.CharField(max_length=100)
    user_id = models.CharField(max_length=255, blank=True, db_index=True)
    anonymous_id = models.CharField(max_length=255, blank=True, db_index=True)
    name = models.CharField(max_length=200)
    properties = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(validators=[event_time])
    received_at = models.DateTimeField(default=timezone.now, validators=[event_time])

    class Meta:
        ordering = ["occurred_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["message_id", "source"], name="pending_unique_message_per_source"
            ),
        ]
        # The daily expiry deletes by age.
        indexes = [models.Index(fields=["received_at"], name="pending_received")]

    def __str__(self):
        return f"{self.name} for {self.user_id or self.anonymous_id} (pending)"


class MessageKind(models.TextChoices):
    """What a message announces; docs/alerts.md says what each means."""

    QUALIFIED = "qualified", "Qualified as a PQL"
    DROPPED = "dropped", "No longer qualifies"
    ASSIGNED = "assigned", "Assigned to a rep"
    REASSIGNED = "reassigned", "Reassigned to another rep"
    UNASSIGNED = "unassigned", "Left without a rep"
    UNASSIGNED_TEAM_FULL = "unassigned_team_full", "Left without a rep: the team is full"
    CONTACTED = "contacted", "Contacted"
    CONVERTED = "converted", "Converted"
    DISQUALIFIED = "disqualified", "Disqualified"
    SLA_DUE_SOON = "sla_due_soon", "Contact due soon"
    SLA_PASSED = "sla_passed", "Contact overdue"
    ENDPOINT_DISABLED = "endpoint_disabled", "Webhook endpoint disabled"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    HELD = "held", "Held for the digest"
    SKIPPED = "skipped", "Not for this channel"
    FAILED = "failed", "Failed"


def outbox_reference(to, *, on_delete, **options) -> Any:  # a ForeignKey
    """An outbox message's reference: optional, not indexed on its own, and
    without a database constraint (see OutboxMessage)."""
    return models.ForeignKey(
        to,
        null=True,
        blank=True,
        on_delete=on_delete,
        related_name="+",
        db_index=False,
        db_constraint=False,
        **options,
    )


# The kinds a person hears about by email or Slack; the rest are for the
# CRM (webhooks) only, and their email and Slack states start as skipped.
FOR_REPS = frozenset({MessageKind.ASSIGNED, MessageKind.REASSIGNED, MessageKind.SLA_DUE_SOON})
FOR_MANAGERS = frozenset(
    {
        MessageKind.UNASSIGNED,
        MessageKind.UNASSIGNED_TEAM_FULL,
        MessageKind.SLA_PASSED,
        MessageKind.ENDPOINT_DISABLED,
    }
)
FOR_PEOPLE = FOR_REPS | FOR_MANAGERS
# A message of those kinds, in SQL.
FOR_PEOPLE_CONDITION = Q(kind__in=sorted(kind.value for kind in FOR_PEOPLE))


class OutboxMessage(models.Model):
    """A change worth announcing, written in the same transaction as the change
    (a transactional outbox): delivery jobs read it after commit, so nothing
    is announced for a change that rolled back, and nothing is lost while a
    queue or a receiver is down.

    A message about a status change that moved the account (qualified,
    assigned, contacted...) is one of a kind by construction: the status
    writer appends it with the change, under the account's lock, and the
    change can never happen twice. Any other message has a `dedupe_key` that
    names what it announces (kind, account, the account's state then):
    writers insert with ON CONFLICT DO NOTHING, so the same news is one
    message whoever writes it, however often. Each channel keeps its own
    state.

    A rescore qualifying thousands of accounts has thousands of rows
    written here (by delivery, from the rescore's OutboxBatch), so the table
    carries only the indexes a reader uses, and its references are kept by
    the writers (every id comes from a row locked in the same transaction)
    and by Django's on_delete rather than by foreign-key constraints, whose
    checks at commit cost as much as the rows themselves.
    """

    # Given when a webhook first wants the message (leads.webhooks.fanout), not
    # by the writer: most messages never go to a webhook. Never looked up: no
    # index (a webhook's deliveries are found by it).
    message_id = models.UUIDField(
        null=True, blank=True, editable=False, help_text="Stable: a webhook's id, once one is sent."
    )
    kind = models.CharField(max_length=30, choices=MessageKind.choices)
    # NULL, not "": no key at all, left out of the partial unique index.
    dedupe_key = models.CharField(  # noqa: DJ001
        max_length=200,
        null=True,
        blank=True,
        help_text="What the message announces, for news that can be announced again; "
        "empty for a status change, which happens once.",
    )
    # Indexed through (account, kind, created_at) below.
    account = outbox_reference(Account, on_delete=models.CASCADE)
    rep = outbox_reference(
        SalesRep, on_delete=models.SET_NULL, help_text="The rep the change concerns: the owner after it."
    )
    team = outbox_reference(Team, on_delete=models.SET_NULL)
    status_change = outbox_reference(StatusChange, on_delete=models.SET_NULL)
    payload = models.JSONField(
        default=dict, blank=True, help_text="What the change was: statuses, reason, previous rep."
    )
    created_at = models.DateTimeField(default=timezone.now)
    email_state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    slack_state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    webhook_state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Email and Slack attempts.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(dedupe_key__isnull=False),
                name="outbox_dedupe_key",
            )
        ]
        indexes = [
            # The cooldown, and whether an account's news was told already: this
            # account's latest message of a kind, among the kinds for people
            # (most of a rescore's messages are for webhooks only).
            models.Index(
                fields=["account", "kind", "created_at"],
                name="outbox_account_kind_time",
                condition=FOR_PEOPLE_CONDITION,
            ),
            # What the channels still have to deliver, in the order the changes
            # were made (a batch's messages are numbered when delivery unfolds
            # it, after messages the same transaction wrote later): one index
            # for the three (each reader adds its own channel's test).
            models.Index(
                fields=["created_at", "id"],
                name="outbox_pending",
                condition=Q(email_state="pending") | Q(slack_state="pending") | Q(webhook_state="pending"),
            ),
            models.Index(fields=["rep", "id"], name="outbox_held", condition=Q(email_state="held")),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.account_id or '-'})"

    @property
    def change(self) -> dict:
        """What the message tells: its payload, with the from, to and reason of
        the status change it was made with (the status writer points to the
        change rather than copy them; select_related("status_change"))."""
        change = self.status_change if self.status_change_id is not None else None
        if change is None or "to_status" in self.payload:
            return self.payload
        return {
            "from_status": change.from_status,
            "to_status": change.to_status,
            "reason": change.reason,
            **self.payload,
        }

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.message_id.hex}" if self.message_id else ""


class OutboxBatch(models.Model):
    """Many messages written as one row: a rescore that qualifies or leaves
    unassigned thousands of accounts appends one of these, in its own
    transaction, where it would append a message for each. The first
    delivery pass after commit unfolds it into those messages
    (leads.outbox.unfold_batches) and deletes it, so the rescore pays for
    one row and delivery for the rest."""

    # JSON text, not jsonb: PostgreSQL writes thousands of notices as text in
    # a third of the time it takes to build them as jsonb.
    notices = models.TextField(
        help_text="A JSON list: [kind, account, rep, team, status change, payload, keyed, version] "
        "for each message."
    )
    created_at = models.DateTimeField(default=timezone.now, help_text="Each message's time: the change's.")

    class Meta:
        verbose_name_plural = "outbox batches"

    def __str__(self):
        return f"Outbox batch {self.pk} ({self.created_at:%Y-%m-%d %H:%M})"


class ImportedChunk(models.Model):
    """A chunk of a history file that was stored whole, in one transaction,
    with what it counted: an import run again skips it and still reports it,
    so an interrupted import resumes where it stopped."""

    file_key = models.CharField(
        max_length=64, help_text="The file's identity (size, first and last bytes) and the import's options."
    )
    chunk = models.PositiveIntegerField(help_text="Its place in the file, from 0.")
    file_name = models.CharField(max_length=255, blank=True)
    lines = models.PositiveIntegerField(default=0)
    stored = models.PositiveIntegerField(default=0)
    pending = models.PositiveIntegerField(default=0)
    profiles = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    rejects = models.JSONField(default=list, blank=True, help_text="Each refused row: line, errors, row.")
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["file_key", "chunk"], name="imported_chunk_unique"),
        ]

    def __str__(self):
        return f"{self.file_name or self.file_key[:12]} chunk {self.chunk}"
