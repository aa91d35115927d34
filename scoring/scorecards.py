"""Turn a PQL definition stored in the admin into the engine's scorecard."""

import time
from functools import cached_property

from django.db import connection
from django.db.models import Q

from .attributes import is_number, split_list
from .engine import AttributeTest, CountTest, Measure, MilestoneRule, Rule, Scorecard
from .models import Criterion, Definition, EventCondition, Milestone
from .terms import NUMERIC_OPERATORS, Kind, Operator, Role

# How long a process trusts the trigger names it read (a definition change
# reaches the priority path within this many seconds; scores at once).
TRIGGER_NAMES_TTL = 10.0


def measure_of(condition: EventCondition, *, distinct_days: bool = False) -> Measure:
    return Measure(
        event_name=condition.event_name,
        property_key=condition.property_key,
        property_value=condition.property_value,
        window=condition.window,
        window_days=condition.window_days,
        distinct_days=distinct_days,
        window_unit=condition.window_unit,
    )


def attribute_value(operator: str, value: str):
    if operator == Operator.IS_SET:
        return None
    if operator in (Operator.IN, Operator.CONTAINS_WORDS):
        return tuple(split_list(value))
    if operator in NUMERIC_OPERATORS:
        return float(value)
    return float(value) if is_number(value) else value.strip()


def rule_of(criterion: Criterion) -> Rule:
    test: AttributeTest | CountTest
    if criterion.kind == Kind.ATTRIBUTE:
        test = AttributeTest(
            subject=criterion.subject,
            field=criterion.field,
            operator=criterion.operator,
            value=attribute_value(criterion.operator, criterion.value),
        )
    else:
        test = CountTest(
            measure=measure_of(criterion, distinct_days=criterion.kind == Kind.DAYS_ACTIVE),
            operator=criterion.operator,
            count=int(criterion.value),
        )
    return Rule(
        id=criterion.pk,
        label=criterion.label,
        role=criterion.role,
        points=criterion.points,
        test=test,
        family=criterion.family,
        gates_apply=criterion.gates_apply,
        hand_raise=criterion.hand_raise,
    )


def scorecard_for(definition: Definition) -> Scorecard:
    return scorecard_of(
        definition, criteria=definition.criteria.all(), milestones=definition.milestones.all()
    )


def scorecard_of(definition: Definition, *, criteria, milestones) -> Scorecard:
    """The scorecard of a definition's settings and the given criteria and
    milestones, saved or not (the builder's preview evaluates unsaved ones)."""
    return Scorecard(
        id=definition.pk,
        name=definition.name,
        score_threshold=definition.score_threshold,
        rules=tuple(rule_of(criterion) for criterion in criteria),
        milestones=tuple(
            MilestoneRule(
                id=milestone.pk,
                label=milestone.label,
                measure=measure_of(milestone),
                min_count=milestone.min_count,
            )
            for milestone in milestones
        ),
        mid_tier_min_employees=definition.mid_tier_min_employees,
        large_tier_min_employees=definition.large_tier_min_employees,
        activation_thresholds={
            "small": definition.small_activation,
            "mid": definition.mid_activation,
            "large": definition.large_activation,
        },
    )


def read_active_scorecard() -> Scorecard | None:
    definition = (
        Definition.objects.active().prefetch_related("criteria", "milestones").first()
    )
    return scorecard_for(definition) if definition else None


def rows_hashed(model, *, where: str) -> str:
    """SQL for the md5 of a table's rows as stored, in id order."""
    table = connection.ops.quote_name(model._meta.db_table)
    return (
        f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) "  # noqa: S608
        f"FROM {table} t WHERE {where})"
    )


class ActiveScorecard:
    """The active definition's scorecard, built again only when the
    definition changed: every rescore asks (a time-driven pass every minute,
    a drain job per slice), and reading and building it cost more than
    scoring five accounts.

    The key is the hash of the definition's, criteria's and milestones' rows
    as the database holds them, read in one small query on each call: any
    write, through any path and from any process, committed or in the
    caller's own transaction (and gone again if it rolls back), gives
    another key. A card is kept only when the key read before building it
    is still the key after: a change committed in between would otherwise
    leave a card older than its key. The key and its card are swapped as
    one pair, so threads share them safely. SQLite reads the definition
    every time.
    """

    def __init__(self) -> None:
        self.kept: tuple[tuple, Scorecard] | None = None

    def __call__(self) -> Scorecard | None:
        if connection.vendor != "postgresql":
            return read_active_scorecard()
        key = self.read_key()
        if key is None:
            return None
        kept = self.kept
        if kept is not None and kept[0] == key:
            return kept[1]
        card = read_active_scorecard()
        if card is not None and self.read_key() == key:
            self.kept = (key, card)
        return card

    def read_key(self) -> tuple | None:
        with connection.cursor() as cursor:
            cursor.execute(self.key_sql)
            return cursor.fetchone()

    @cached_property
    def key_sql(self) -> str:
        definitions = connection.ops.quote_name(Definition._meta.db_table)
        criteria = rows_hashed(Criterion, where="t.definition_id = d.id")
        milestones = rows_hashed(Milestone, where="t.definition_id = d.id")
        return (
            f"SELECT d.id, md5(d::text), {criteria}, {milestones} "  # noqa: S608
            f"FROM {definitions} d WHERE d.is_active"
        )


active_scorecard = ActiveScorecard()


class TriggerNames:
    """The event names the active definition's triggers and hand-raise
    criteria count, read at most every TRIGGER_NAMES_TTL seconds: ingestion
    asks on every batch."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.names: frozenset[str] = frozenset()
        self.read_at: float | None = None

    def __call__(self) -> frozenset[str]:
        now = self.clock()
        if self.read_at is None or now - self.read_at >= TRIGGER_NAMES_TTL:
            self.names = frozenset(
                Criterion.objects.filter(
                    Q(role=Role.TRIGGER) | Q(hand_raise=True),
                    definition__is_active=True,
                    kind__in=[Kind.EVENT_COUNT, Kind.DAYS_ACTIVE],
                ).values_list("event_name", flat=True)
            )
            self.read_at = now
        return self.names

    def forget(self) -> None:
        self.read_at = None


trigger_event_names = TriggerNames()


def snapshot(definition: Definition) -> dict:
    """The definition as plain data, kept with every change."""
    settings_fields = [
        "name",
        "description",
        "is_active",
        "score_threshold",
        "mid_tier_min_employees",
        "large_tier_min_employees",
        "small_activation",
        "mid_activation",
        "large_activation",
    ]
    criterion_fields = [
        "label", "family", "role", "points", "gates_apply", "hand_raise", "kind", "subject",
        "field", "operator", "value", "event_name", "property_key", "property_value", "window",
        "window_days", "window_unit",
    ]
    milestone_fields = [
        "label", "event_name", "property_key", "property_value", "window", "window_days",
        "window_unit", "min_count",
    ]
    return {
        **{name: getattr(definition, name) for name in settings_fields},
        "criteria": [
            {name: getattr(criterion, name) for name in criterion_fields}
            for criterion in definition.criteria.all()
        ],
        "milestones": [
            {name: getattr(milestone, name) for name in milestone_fields}
            for milestone in definition.milestones.all()
        ],
    }
