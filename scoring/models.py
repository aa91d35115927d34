"""What makes a PQL, as sales managers configure it, and each account's result.

A definition holds criteria (gates, scoring criteria, triggers), activation
milestones and tier thresholds. scoring.scorecards turns it into the pure
rules the engine evaluates; these models only hold and validate the settings.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from leads.models import Account, Tier

from . import attributes
from .engine import Result
from .terms import (
    COUNT_OPERATORS,
    DEFAULT_ACTIVATION_THRESHOLDS,
    Family,
    Kind,
    Operator,
    Role,
    Subject,
    Window,
    WindowUnit,
)


def percent_field(tier_label):
    default = DEFAULT_ACTIVATION_THRESHOLDS[tier_label]
    return models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=f"Activation % at which a {tier_label.label.lower()} account qualifies. "
        f"Blank: {default}% when milestones are set.",
    )


class DefinitionQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)

    def annotate_criteria_count(self):
        return self.annotate(criteria_count=models.Count("criteria"))


class Definition(models.Model):
    """A named set of criteria with a score threshold; one is active at a time."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(
        "active",
        default=False,
        help_text="The active definition scores every account. Activating one deactivates the others.",
    )
    score_threshold = models.IntegerField(
        default=50, help_text="An account whose gates hold qualifies at this many points."
    )
    mid_tier_min_employees = models.PositiveIntegerField(
        default=50, help_text="Accounts with at least this many employees are mid-size."
    )
    large_tier_min_employees = models.PositiveIntegerField(
        default=500, help_text="Accounts with at least this many employees are large."
    )
    small_activation = percent_field(Tier.SMALL)
    mid_activation = percent_field(Tier.MID)
    large_activation = percent_field(Tier.LARGE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = DefinitionQuerySet.as_manager()

    class Meta:
        verbose_name = "PQL definition"
        ordering = ["-is_active", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_definition"
            ),
        ]

    def __str__(self):
        return f"{self.name} (active)" if self.is_active else self.name

    @property
    def activation_thresholds_set(self):
        return any(
            value is not None
            for value in (self.small_activation, self.mid_activation, self.large_activation)
        )

    def validate_constraints(self, exclude=None):
        # Saving a definition as active deactivates the others first
        # (scoring.definitions), so forms need not refuse a second active one.
        super().validate_constraints(exclude={*(exclude or ()), "is_active"})

    def clean(self):
        if self.large_tier_min_employees <= self.mid_tier_min_employees:
            raise ValidationError(
                {"large_tier_min_employees": "Large accounts must start above the mid-size bound."}
            )


class EventCondition(models.Model):
    """Which events count, shared by event criteria and milestones."""

    event_name = models.CharField(
        max_length=200, blank=True, help_text="e.g. invite_sent. Blank for days active: any event."
    )
    property_key = models.CharField(
        max_length=100, blank=True, help_text="Only events whose property has this key…"
    )
    property_value = models.CharField(
        max_length=200, blank=True, help_text="…with this value (e.g. kind = financial_statement)."
    )
    window = models.CharField(max_length=20, choices=Window.choices, default=Window.EVER)
    window_days = models.IntegerField(
        "window length",
        null=True,
        blank=True,
        help_text="N, for the windows that take a length (in the unit beside it).",
    )
    window_unit = models.CharField(
        "unit", max_length=5, choices=WindowUnit.choices, default=WindowUnit.DAYS
    )

    class Meta:
        abstract = True

    def clean_event_condition(self, *, name_required):
        errors = {}
        if name_required and not self.event_name:
            errors["event_name"] = "Name the event to count."
        if self.property_value and not self.property_key:
            errors["property_key"] = "Name the property whose value must match."
        if self.window in (Window.AFTER_SIGNUP, Window.LAST_DAYS):
            if self.window_days is None:
                errors["window_days"] = f"This window needs a number of {self.window_unit}."
            elif self.window_days <= 0:
                errors["window_days"] = f"The window must be at least one {self.window_unit[:-1]}."
        else:
            self.window_days, self.window_unit = None, WindowUnit.DAYS
        return errors


class Criterion(EventCondition):
    """One rule of a definition: an attribute test or an event count test."""

    definition = models.ForeignKey(Definition, on_delete=models.CASCADE, related_name="criteria")
    position = models.PositiveSmallIntegerField(default=0)
    label = models.CharField(
        max_length=200, help_text="What reps read, e.g. 'Invited more than 10 teammates'."
    )
    family = models.CharField(
        max_length=10,
        choices=Family.choices,
        default=Family.INTENT,
        help_text="What it is evidence of. Changes no result: the lab and the reasons group by it.",
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.SCORING)
    points = models.IntegerField(default=0, help_text="Added to the score when it holds; may be negative.")
    gates_apply = models.BooleanField(
        "only with the gates",
        default=False,
        help_text="For triggers: qualify only if the gates hold too.",
    )
    hand_raise = models.BooleanField(
        "hand-raise",
        default=False,
        help_text="The account asked to talk (contact form, pricing, a limit hit): "
        "earns the hand-raised badge and goes to the top of the queue.",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.EVENT_COUNT)
    subject = models.CharField(
        max_length=20, choices=Subject.choices, default=Subject.ACCOUNT, help_text="For attributes."
    )
    field = models.CharField(
        max_length=120,
        blank=True,
        help_text="For attributes: a field (industry, country, employee_count, plan, title, …) "
        "or a trait as traits.KEY.",
    )
    operator = models.CharField(max_length=20, choices=Operator.choices, default=Operator.GTE)
    value = models.CharField(
        max_length=500,
        blank=True,
        help_text="Attribute value, comma-separated for 'one of' and 'words'; the count for events.",
    )

    class Meta:
        verbose_name_plural = "criteria"
        ordering = ["position", "id"]

    def __str__(self):
        return self.label

    def clean(self):
        if self.kind == Kind.ATTRIBUTE:
            errors = attributes.attribute_errors(
                subject=self.subject, field=self.field, operator=self.operator, value=self.value
            )
            self.event_name = self.property_key = self.property_value = ""
            self.window, self.window_days, self.window_unit = Window.EVER, None, WindowUnit.DAYS
        else:
            errors = self.clean_event_condition(name_required=self.kind == Kind.EVENT_COUNT)
            if self.operator not in COUNT_OPERATORS:
                errors["operator"] = "Compare a count with equals, greater/less than, at least or at most."
            if not self.value.strip().isdigit():
                errors["value"] = "Give the count to compare with, a whole number of 0 or more."
            self.field = ""
        if self.role != Role.TRIGGER:
            self.gates_apply = False
        if errors:
            raise ValidationError(errors)


class Milestone(EventCondition):
    """One step of activation: reached once the account did this (min_count times)."""

    definition = models.ForeignKey(Definition, on_delete=models.CASCADE, related_name="milestones")
    position = models.PositiveSmallIntegerField(default=0)
    label = models.CharField(max_length=200, help_text="e.g. 'Invited a teammate'.")
    min_count = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.label

    def clean(self):
        errors = self.clean_event_condition(name_required=True)
        if errors:
            raise ValidationError(errors)


class DefinitionChange(models.Model):
    """Who changed a definition and what it said afterwards (append-only)."""

    definition = models.ForeignKey(Definition, on_delete=models.CASCADE, related_name="changes")
    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    snapshot = models.JSONField(help_text="The definition as it was saved.")

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self):
        return f"{self.definition_id} changed at {self.changed_at:%Y-%m-%d %H:%M}"


class ExplanationField(models.JSONField):
    """JSON kept as written: PostgreSQL's `json`, not `jsonb`.

    A full rescore writes 100,000 explanations and nothing queries inside
    them, so jsonb's conversion on every write was pure cost (about a
    second of the database's time per full rescore). Elsewhere, JSONField's
    own column.
    """

    def db_type(self, connection):
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

    def from_db_value(self, value, expression, connection):
        # psycopg decodes `json` itself; Django registers a text loader for jsonb only.
        if value is None or not isinstance(value, str | bytes):
            return value
        return super().from_db_value(value, expression, connection)


class AccountScore(models.Model):
    """An account's latest result under the active definition, with its explanation.

    computed_at is when the facts behind it were read: a result read earlier
    never overwrites one read later.
    """

    # No database constraint: its check at commit cost the first rescore of a
    # book a locking lookup of the account per result, more than the insert
    # itself. The writer stores results only for accounts that exist
    # (scoring.rescoring), and Django deletes an account's score with it.
    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="score", db_constraint=False
    )
    # No index: nothing reads scores by definition, and a full rescore
    # writes every row. Deleting a definition scans the table once. No
    # database constraint either: its check at commit cost a full rescore a
    # lookup per row, and Django itself sets the column to NULL when a
    # definition is deleted.
    definition = models.ForeignKey(
        Definition,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    score = models.IntegerField(default=0)
    activation = models.PositiveSmallIntegerField(null=True, blank=True)
    tier = models.CharField(max_length=10, choices=Tier.choices, default=Tier.SMALL)
    qualifies = models.BooleanField(default=False)
    triggered = models.BooleanField(default=False, help_text="Qualified by a hand-raising trigger.")
    explanation = ExplanationField(default=dict)
    digest = models.CharField(max_length=40, help_text="Hash of the result, to skip unchanged writes.")
    computed_at = models.DateTimeField()
    priority = models.BigIntegerField(
        default=0,
        help_text="Queue order in one number: hand-raised, then tier, then score (higher first).",
    )
    next_change_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When this result next changes with time alone (an event leaving a "
        "'last D days' window); the minute pass rescores it then. Empty: never.",
    )

    class Meta:
        indexes = [
            # The minute pass reads the accounts due (next_change_at <= now).
            models.Index(
                fields=["next_change_at"],
                name="score_next_change",
                condition=Q(next_change_at__isnull=False),
            ),
            models.Index(fields=["qualifies", "tier"], name="score_qualifies_tier"),
            models.Index(fields=["score"], name="score_score"),
            # The unassigned queue walks it highest first (leads.selectors).
            models.Index(fields=["-priority"], name="score_priority"),
        ]

    def __str__(self):
        return f"{self.account_id}: {self.score}"

    def as_result(self):
        return Result(
            account_id=self.account_id,
            score=self.score,
            activation=self.activation,
            tier=self.tier,
            qualifies=self.qualifies,
            triggered=self.triggered,
            explanation=self.explanation,
            next_change_at=self.next_change_at,
        )


class PendingRescore(models.Model):
    """An account whose rescore was asked for and is not known to be done.

    The queue lives in Redis, but the database is the source of truth: a
    rescore that could not be enqueued (Redis unreachable) or whose job died
    (worker killed) stays here until the catch-up pass does it.
    """

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    requested_at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=40)

    class Meta:
        ordering = ["requested_at"]

    def __str__(self):
        return f"{self.account_id} since {self.requested_at:%Y-%m-%d %H:%M}"


class ScoringRun(models.Model):
    """A full rescore, for operators to see what ran, why and how long it took."""

    definition = models.ForeignKey(Definition, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    accounts_scored = models.PositiveIntegerField(default=0)
    results_changed = models.PositiveIntegerField(default=0)
    statuses_changed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"Rescore at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def seconds(self):
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 2)


class LabRun(models.Model):
    """One computation of the criteria lab for a definition: what-if against
    the active definition, what predicts conversion, and a backtest. The
    page shows the last finished run; a running one reports its progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    definition = models.ForeignKey(Definition, on_delete=models.CASCADE, related_name="lab_runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    step = models.CharField(max_length=200, blank=True, help_text="What the run is doing now.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["definition", "-requested_at"], name="labrun_definition_time")]
        constraints = [
            # One waiting or running computation per definition: a second
            # request while one is under way adds nothing.
            models.UniqueConstraint(
                fields=["definition"],
                condition=Q(status__in=["queued", "running"]),
                name="one_pending_lab_run_per_definition",
            ),
        ]

    def __str__(self):
        return f"Lab run {self.pk} of definition {self.definition_id} ({self.status})"

    @property
    def pending(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def seconds(self):
        if self.finished_at is None or self.started_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 1)
