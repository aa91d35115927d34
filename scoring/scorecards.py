"""Turn a PQL definition stored in the admin into the engine's scorecard."""

import time

from django.db.models import Q

from .attributes import is_number, split_list
from .engine import AttributeTest, CountTest, Measure, MilestoneRule, Rule, Scorecard
from .models import Criterion, Definition, EventCondition
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


def active_scorecard() -> Scorecard | None:
    definition = (
        Definition.objects.active().prefetch_related("criteria", "milestones").first()
    )
    return scorecard_for(definition) if definition else None


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
