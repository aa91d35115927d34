"""What the lab learns from: accounts with a known outcome (converted or
disqualified, from the status history) and their facts as they stood before
that outcome, at a few checkpoints after signup. Set-based SQL: every event
count of every checkpoint comes from one aggregate query.
"""

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    TextField,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Least, TruncDate
from django.utils import timezone

from leads.models import Event, LeadStatus, Plan, StatusChange

from ..engine import AccountFacts, AttributeTest, Measure, Scorecard
from ..facts import gather_facts
from ..terms import Window

OUTCOMES = (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED)
# Days after signup at which the backtest asks "would it qualify by now?",
# besides the moment before the outcome itself.
CHECKPOINT_DAYS = (1, 3, 7, 14, 30, 60)
# Up to this many accounts, their facts are read by id; beyond, reading every
# account costs less than the id list.
ID_LIST_LIMIT = 30_000


@dataclass(frozen=True)
class KnownOutcome:
    """An account's latest recorded outcome and when it was recorded."""

    account_id: int
    converted: bool
    decided_at: datetime
    signed_up_at: datetime
    # Conversion makes an account paid; before it, it was on its trial (or
    # free, without a trial end). Attributes are otherwise as of now.
    plan_before: str = ""

    def checkpoints(self) -> list[datetime]:
        """The moments the backtest evaluates: each checkpoint day before the
        outcome, then the outcome itself (events strictly before it)."""
        moments = [
            self.signed_up_at + timedelta(days=days)
            for days in CHECKPOINT_DAYS
            if self.signed_up_at + timedelta(days=days) < self.decided_at
        ]
        return [*moments, self.decided_at]


def outcome_events(events):
    """Events of accounts with a known outcome, each joined to the row that
    recorded the outcome (the latest, should there be two), before it.

    Filtered in one call, so that both conditions share the status-change
    join; `decided_at` is the outcome's time.
    """
    events = events.filter(
        account__status__in=OUTCOMES,
        account__status_changes__to_status=F("account__status"),
        occurred_at__lt=F("account__status_changes__changed_at"),
    ).alias(decided_at=F("account__status_changes__changed_at"))
    later = StatusChange.objects.filter(
        account_id=OuterRef("account_id"), to_status=OuterRef("account__status"), changed_at__gt=OuterRef("decided_at")
    )
    return events.filter(~Exists(later))


def known_outcomes() -> dict[int, KnownOutcome]:
    """Accounts whose status is converted or disqualified, with the time that
    outcome was recorded (the latest such change): one aggregate query."""
    rows = (
        StatusChange.objects.filter(account__status__in=OUTCOMES, to_status=F("account__status"))
        .values(
            "account_id", "account__status", "account__signed_up_at", "account__plan",
            "account__trial_ends_at",
        )
        .annotate(decided_at=Max("changed_at"))
        .order_by()
    )
    outcomes = {}
    for row in rows:
        converted = row["account__status"] == LeadStatus.CONVERTED
        plan = row["account__plan"]
        if converted and plan == Plan.PAID:
            plan = Plan.TRIAL if row["account__trial_ends_at"] else Plan.FREE
        outcomes[row["account_id"]] = KnownOutcome(
            account_id=row["account_id"],
            converted=converted,
            decided_at=row["decided_at"],
            signed_up_at=row["account__signed_up_at"],
            plan_before=plan,
        )
    return outcomes


def checkpoint_filter(measure: Measure, *, days: int | None, property_alias: str) -> Q:
    """The measure's events as they stood at a checkpoint (days after signup;
    None: just before the outcome). The query already keeps only events
    before the outcome, so a checkpoint adds its own upper bound."""
    signed_up = F("account__signed_up_at")
    condition = Q()
    if measure.event_name:
        condition &= Q(name=measure.event_name)
    if measure.property_key:
        condition &= Q(**{property_alias: measure.property_value})
    moment: F | Least = F("decided_at")
    if days is not None:
        at = ExpressionWrapper(signed_up + timedelta(days=days), output_field=DateTimeField())
        condition &= Q(occurred_at__lt=at)
        moment = Least(at, F("decided_at"))
    if measure.window == Window.AFTER_SIGNUP:
        # Within D days after signup: not before it either.
        condition &= Q(
            occurred_at__gte=signed_up,
            occurred_at__lte=ExpressionWrapper(
                signed_up + measure.span, output_field=DateTimeField()
            ),
        )
    elif measure.window == Window.LAST_DAYS:
        condition &= Q(
            occurred_at__gte=ExpressionWrapper(
                moment - measure.span, output_field=DateTimeField()
            )
        )
    elif measure.window == Window.TRIAL:
        condition &= Q(
            account__trial_ends_at__isnull=False,
            occurred_at__gte=signed_up,
            occurred_at__lte=F("account__trial_ends_at"),
        )
    return condition


def counts_before_outcome(
    measures: Iterable[Measure], *, account_ids: list[int] | None = None
) -> dict[int, dict[int | None, dict[Measure, int]]]:
    """Every measure at every checkpoint for every account with an outcome:
    {account: {checkpoint days (None: at the outcome): {measure: count}}}.

    One GROUP BY query over the events before each account's outcome.
    """
    measures = sorted(set(measures), key=repr)
    if not measures:
        return {}
    events = outcome_events(Event.objects.all())
    if account_ids is not None:
        events = events.filter(account_id__in=account_ids)
    names = {measure.event_name for measure in measures}
    if "" not in names:
        events = events.filter(name__in=names)
    aggregates: dict[str, Count] = {}
    keys: list[tuple] = []
    for index, measure in enumerate(measures):
        property_alias = f"p{index}"
        if measure.property_key:
            events = events.alias(
                **{property_alias: Cast(KeyTextTransform(measure.property_key, "properties"), TextField())}
            )
        for days in (*CHECKPOINT_DAYS, None):
            condition = checkpoint_filter(measure, days=days, property_alias=property_alias) or None
            name = f"m{len(keys)}"
            keys.append((days, measure))
            if measure.distinct_days:
                aggregates[name] = Count(TruncDate("occurred_at"), distinct=True, filter=condition)
            else:
                aggregates[name] = Count("pk", filter=condition)
    rows = events.values("account_id").annotate(**aggregates).order_by().values_list(
        "account_id", *aggregates
    )
    counts: dict[int, dict[int | None, dict[Measure, int]]] = {}
    for account_id, *values in rows:
        by_checkpoint = counts[account_id] = {}
        for (days, measure), value in zip(keys, values, strict=True):
            by_checkpoint.setdefault(days, {})[measure] = value
    return counts


def before_outcome(attributes: Mapping[str, object], *, outcome: KnownOutcome) -> Mapping[str, object]:
    """Attributes as they were before the outcome: as of now, but for the plan."""
    if "plan" in attributes:
        return {**attributes, "plan": outcome.plan_before}
    return attributes


@dataclass
class Timeline:
    """An account with a known outcome and its facts at each checkpoint."""

    outcome: KnownOutcome
    # (moment, facts), in time order; the last is just before the outcome.
    states: list[tuple[datetime, AccountFacts]]


def timelines(card: Scorecard, outcomes: dict[int, KnownOutcome]) -> list[Timeline]:
    """Facts before the outcome for every account in `outcomes`: attributes and
    people in two queries (as a rescore reads them), event counts in one."""
    ids = sorted(outcomes)
    if not ids:
        return []
    # Attributes and people only; the counts come from counts_before_outcome.
    shell = dataclasses.replace(
        card,
        rules=tuple(rule for rule in card.rules if isinstance(rule.test, AttributeTest)),
        milestones=(),
    )
    book = gather_facts(shell, now=timezone.now(), account_ids=ids if len(ids) <= ID_LIST_LIMIT else None)
    counts = counts_before_outcome(card.measures)  # the same accounts: those with an outcome
    made = []
    for facts in book.facts:
        outcome = outcomes.get(facts.account_id)
        if outcome is None:
            continue
        attributes = before_outcome(facts.attributes, outcome=outcome)
        by_checkpoint = counts.get(facts.account_id, {})
        moments = outcome.checkpoints()
        days_of = [*CHECKPOINT_DAYS[: len(moments) - 1], None]
        made.append(
            Timeline(
                outcome=outcome,
                states=[
                    (
                        moment,
                        AccountFacts(
                            account_id=facts.account_id,
                            attributes=attributes,
                            people=facts.people,
                            counts=by_checkpoint.get(days, {}),
                        ),
                    )
                    for moment, days in zip(moments, days_of, strict=True)
                ],
            )
        )
    return made

