"""The PQL rules as pure functions: a scorecard and one account's facts in,
a result with its explanation out. No database access here, so every rule is
testable on plain values and the same code scores one account or all.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from leads.models import Tier

from .terms import DEFAULT_ACTIVATION_THRESHOLDS, Operator, Role, Subject, Window

OPERATOR_SYMBOLS = {
    Operator.EQ: "=",
    Operator.GT: ">",
    Operator.GTE: ">=",
    Operator.LT: "<",
    Operator.LTE: "<=",
}


@dataclass(frozen=True)
class Measure:
    """An event count the facts query computes per account."""

    event_name: str = ""
    property_key: str = ""
    property_value: str = ""
    window: str = Window.EVER
    window_days: int | None = None
    distinct_days: bool = False

    def describe(self) -> str:
        what = "days active" if self.distinct_days else f"{self.event_name or 'events'} count"
        if self.distinct_days and self.event_name:
            what = f"days with {self.event_name}"
        if self.property_key:
            what += f" where {self.property_key} = {self.property_value}"
        if self.window == Window.AFTER_SIGNUP:
            what += f" within {self.window_days} days of signup"
        elif self.window == Window.LAST_DAYS:
            what += f" in the last {self.window_days} days"
        elif self.window == Window.TRIAL:
            what += " during the trial"
        return what


@dataclass(frozen=True)
class AttributeTest:
    subject: str
    field: str
    operator: str
    value: object  # str, float, tuple of str, or None for is_set

    def check(self, facts: "AccountFacts") -> tuple[bool, str]:
        if self.subject == Subject.ACCOUNT:
            observed = facts.attribute(self.field)
            held = test_value(self.operator, self.value, observed)
            return held, f"{self.field} {show(observed)} {self.expectation()}"
        for person in facts.people:
            observed = lookup(person, self.field)
            if test_value(self.operator, self.value, observed):
                who = person.get("email") or person.get("name") or "a person"
                return True, f"{who}: {self.field} {show(observed)} {self.expectation()}"
        return False, f"no person's {self.field} {self.expectation()}"

    def expectation(self) -> str:
        if self.operator == Operator.IS_SET:
            return "is set"
        if self.operator == Operator.IN:
            return "in " + ", ".join(self.value)
        if self.operator == Operator.CONTAINS_WORDS:
            return "contains any of " + ", ".join(self.value)
        return f"{OPERATOR_SYMBOLS[self.operator]} {show(self.value)}"


@dataclass(frozen=True)
class CountTest:
    measure: Measure
    operator: str
    count: int

    def check(self, facts: "AccountFacts") -> tuple[bool, str]:
        observed = facts.counts.get(self.measure, 0)
        held = compare(self.operator, observed, self.count)
        return held, (
            f"{self.measure.describe()} {observed} "
            f"{OPERATOR_SYMBOLS[self.operator] if held else 'not ' + OPERATOR_SYMBOLS[self.operator]}"
            f" {self.count}"
        )


@dataclass(frozen=True)
class Rule:
    id: int
    label: str
    role: str
    points: int
    test: AttributeTest | CountTest
    family: str = "intent"
    gates_apply: bool = False


@dataclass(frozen=True)
class MilestoneRule:
    id: int
    label: str
    measure: Measure
    min_count: int = 1


@dataclass(frozen=True)
class Scorecard:
    """A definition in the form the engine evaluates."""

    id: int | None
    name: str
    score_threshold: int
    rules: tuple[Rule, ...] = ()
    milestones: tuple[MilestoneRule, ...] = ()
    mid_tier_min_employees: int = 50
    large_tier_min_employees: int = 500
    activation_thresholds: Mapping[str, int | None] = field(default_factory=dict)

    @cached_property
    def measures(self) -> frozenset[Measure]:
        counted = {rule.test.measure for rule in self.rules if isinstance(rule.test, CountTest)}
        return frozenset(counted | {milestone.measure for milestone in self.milestones})

    @cached_property
    def account_fields(self) -> frozenset[str]:
        return frozenset(
            rule.test.field
            for rule in self.rules
            if isinstance(rule.test, AttributeTest) and rule.test.subject == Subject.ACCOUNT
        )

    @cached_property
    def person_fields(self) -> frozenset[str]:
        return frozenset(
            rule.test.field
            for rule in self.rules
            if isinstance(rule.test, AttributeTest) and rule.test.subject == Subject.ANY_PERSON
        )

    def tier_for(self, employee_count: int | None) -> Tier:
        if employee_count is not None and employee_count >= self.large_tier_min_employees:
            return Tier.LARGE
        if employee_count is not None and employee_count >= self.mid_tier_min_employees:
            return Tier.MID
        return Tier.SMALL

    def activation_threshold(self, tier: str) -> int | None:
        if not self.milestones:
            return None
        chosen = self.activation_thresholds.get(tier)
        return DEFAULT_ACTIVATION_THRESHOLDS[tier] if chosen is None else chosen


@dataclass
class AccountFacts:
    """What the engine knows of one account: attributes, people and event counts."""

    account_id: int
    attributes: Mapping[str, object] = field(default_factory=dict)
    people: Sequence[Mapping[str, object]] = ()
    counts: Mapping[Measure, int] = field(default_factory=dict)

    def attribute(self, name: str):
        return lookup(self.attributes, name)


@dataclass
class Result:
    account_id: int
    score: int
    activation: int | None
    tier: str
    qualifies: bool
    triggered: bool
    explanation: dict


def evaluate(card: Scorecard, facts: AccountFacts) -> Result:
    """Score one account: gates, points, activation and triggers, with the why."""
    checks = []
    for rule in card.rules:
        held, observed = rule.test.check(facts)
        checks.append((rule, held, observed))

    gates_hold = all(held for rule, held, _ in checks if rule.role == Role.GATE)
    score = sum(rule.points for rule, held, _ in checks if held)
    firing_triggers = [
        rule
        for rule, held, _ in checks
        if held and rule.role == Role.TRIGGER and (gates_hold or not rule.gates_apply)
    ]

    reached = [
        facts.counts.get(milestone.measure, 0) >= milestone.min_count for milestone in card.milestones
    ]
    activation = round(100 * sum(reached) / len(reached)) if reached else None
    tier = card.tier_for(to_number(facts.attribute("employee_count")))
    activation_threshold = card.activation_threshold(tier)

    qualified_by = [f"trigger: {rule.label}" for rule in firing_triggers]
    if gates_hold and score >= card.score_threshold:
        qualified_by.append(f"score {score} >= {card.score_threshold}")
    if gates_hold and activation is not None and activation >= activation_threshold:
        qualified_by.append(f"activation {activation}% >= {activation_threshold}% ({tier})")

    criteria = [
        {
            "id": rule.id,
            "label": rule.label,
            "role": rule.role,
            "family": rule.family,
            "held": held,
            "observed": observed,
            "points": rule.points if held else 0,
        }
        for rule, held, observed in checks
    ]
    # Reps read the reasons first: triggers, then the criteria that gave most points.
    reasons = [
        entry["label"]
        for entry in sorted(
            (entry for entry in criteria if entry["held"] and entry["role"] != Role.GATE),
            key=lambda entry: (entry["role"] != Role.TRIGGER, -entry["points"]),
        )
    ]
    milestones = [
        {
            "id": milestone.id,
            "label": milestone.label,
            "reached": done,
            "observed": facts.counts.get(milestone.measure, 0),
            "needed": milestone.min_count,
        }
        for milestone, done in zip(card.milestones, reached, strict=True)
    ]
    return Result(
        account_id=facts.account_id,
        score=score,
        activation=activation,
        tier=tier,
        qualifies=bool(qualified_by),
        triggered=bool(firing_triggers),
        explanation={
            "definition": card.name,
            "gates_hold": gates_hold,
            "score_threshold": card.score_threshold,
            "activation_threshold": activation_threshold,
            "qualified_by": qualified_by,
            "reasons": reasons,
            "criteria": criteria,
            "milestones": milestones,
        },
    )


def lookup(values: Mapping[str, object], name: str):
    """A field, or a trait as traits.KEY."""
    if name.startswith("traits."):
        traits = values.get("traits") or {}
        return traits.get(name.removeprefix("traits.")) if isinstance(traits, Mapping) else None
    return values.get(name)


def to_number(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def compare(operator: str, observed: float, expected: float) -> bool:
    if operator == Operator.EQ:
        return observed == expected
    if operator == Operator.GT:
        return observed > expected
    if operator == Operator.GTE:
        return observed >= expected
    if operator == Operator.LT:
        return observed < expected
    if operator == Operator.LTE:
        return observed <= expected
    raise ValueError(f"{operator} does not compare numbers")


def is_set(value) -> bool:
    return value not in (None, "", [], {})


def text(value) -> str:
    return str(value).strip().lower()


WORD_PATTERNS: dict[tuple[str, ...], re.Pattern] = {}


def words_pattern(words: tuple[str, ...]) -> re.Pattern:
    pattern = WORD_PATTERNS.get(words)
    if pattern is None:
        alternatives = "|".join(re.escape(word) for word in words)
        pattern = WORD_PATTERNS[words] = re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)
    return pattern


def test_value(operator: str, expected, observed) -> bool:
    """Whether an observed attribute passes the test; a missing value never does
    (except that it is, of course, not set)."""
    if operator == Operator.IS_SET:
        return is_set(observed)
    if not is_set(observed):
        return False
    if operator in OPERATOR_SYMBOLS and operator != Operator.EQ:
        number = to_number(observed)
        return number is not None and compare(operator, number, expected)
    if operator == Operator.CONTAINS_WORDS:
        return bool(words_pattern(expected).search(str(observed)))
    candidates = expected if operator == Operator.IN else (expected,)
    number = to_number(observed)
    for candidate in candidates:
        candidate_number = to_number(candidate)
        if number is not None and candidate_number is not None:
            if number == candidate_number:
                return True
        elif text(observed) == text(candidate):
            return True
    return False


def show(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return f'"{value}"'
    return "not set" if value is None else str(value)
