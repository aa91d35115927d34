"""The PQL rules as pure functions: a scorecard and one account's facts in,
a result with its explanation out. No database access here, so every rule is
testable on plain values and the same code scores one account or all.
"""

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, partial
from typing import Any, NamedTuple

from leads.models import Tier

from . import wording
from .terms import (
    DEFAULT_ACTIVATION_THRESHOLDS,
    Operator,
    Role,
    Subject,
    Window,
    WindowUnit,
    window_span,
)

# Distinct text values whose verdict an attribute test remembers.
VERDICTS_KEPT = 100_000


class Measure(NamedTuple):
    """An event count the facts query computes per account.

    A tuple, because measures key the counts of every account: a tuple's
    hash and equality run in C, several times faster than a dataclass's.
    """

    event_name: str = ""
    property_key: str = ""
    property_value: str = ""
    window: str = Window.EVER
    window_days: int | None = None
    distinct_days: bool = False
    window_unit: str = WindowUnit.DAYS

    @property
    def span(self):
        """The window's length as a timedelta (windows that take one)."""
        return window_span(self.window_days or 0, self.window_unit)

    def describe(self, count: int) -> str:
        """What was counted, in words: 'Viewed pricing 3 times in the last 14 days'."""
        return wording.event_count_words(
            event_name=self.event_name,
            count=count,
            distinct_days=self.distinct_days,
            property_key=self.property_key,
            property_value=self.property_value,
        ) + wording.window_words(self.window, self.window_days, self.window_unit)


@dataclass(frozen=True)
class AttributeTest:
    subject: str
    field: str
    operator: str
    value: Any  # str, float, tuple of str, or None for is_set

    @cached_property
    def expected_texts(self) -> frozenset[str]:
        values = self.value if isinstance(self.value, tuple) else (self.value,)
        return frozenset(text(value) for value in values if value is not None)

    @cached_property
    def expected_numbers(self) -> frozenset[float]:
        values = self.value if isinstance(self.value, tuple) else (self.value,)
        return frozenset(n for n in map(to_number, values) if n is not None)

    @cached_property
    def verdicts(self) -> dict[str, bool]:
        """holds() of the text values seen so far: a book repeats the same
        industries, plans and titles over and over."""
        return {}

    @cached_property
    def read(self) -> Callable[[Mapping[str, object]], object]:
        """lookup() of this field, with the prefix test done once."""
        if self.field.startswith("traits."):
            return partial(lookup, name=self.field)
        return operator.methodcaller("get", self.field)

    def holds(self, observed) -> bool:
        """Whether an observed value passes; a missing value never does
        (except that it is, of course, not set)."""
        if observed.__class__ is not str:
            return self.decide(observed)
        verdicts = self.verdicts
        held = verdicts.get(observed)
        if held is None:
            held = self.decide(observed)
            if len(verdicts) < VERDICTS_KEPT:
                verdicts[observed] = held
        return held

    def decide(self, observed) -> bool:
        operator = self.operator
        if operator == Operator.IS_SET:
            return is_set(observed)
        if not is_set(observed):
            return False
        if operator == Operator.CONTAINS_WORDS:
            return bool(words_pattern(self.value).search(str(observed)))
        number = to_number(observed)
        if operator in COMPARISONS and operator != Operator.EQ:
            return number is not None and COMPARISONS[operator](number, self.value)
        return (number is not None and number in self.expected_numbers) or (
            text(observed) in self.expected_texts
        )

    def check(self, facts: "AccountFacts") -> tuple[bool, object]:
        """Whether it holds, and what was observed (for any person: who and what)."""
        read, holds = self.read, self.holds
        if self.subject == Subject.ACCOUNT:
            observed = read(facts.attributes)
            return holds(observed), observed
        for person in facts.people:
            observed = read(person)
            if holds(observed):
                return True, [person.get("email") or person.get("name") or "a person", observed]
        return False, None

    def describe(self, observed, held: bool) -> str:
        """What was observed in plain words, saying so when the test failed."""
        if self.subject == Subject.ACCOUNT:
            return wording.attribute_words(
                field=self.field, operator=self.operator, expected=self.value, observed=observed, held=held
            )
        who, value = observed if held and isinstance(observed, list | tuple) else (None, None)
        return wording.person_words(
            field=self.field, operator=self.operator, expected=self.value, who=who, observed=value, held=held
        )


@dataclass(frozen=True)
class CountTest:
    measure: Measure
    operator: str
    count: int

    def check(self, facts: "AccountFacts") -> tuple[bool, int]:
        observed = facts.counts.get(self.measure, 0)
        return COMPARISONS[self.operator](observed, self.count), observed

    def describe(self, observed, held: bool) -> str:
        """'Viewed pricing 3 times'; when it fails, with what it needs:
        'Logged 0 hours in the first 7 days, needs at least 1'."""
        text = self.measure.describe(observed)
        if held:
            return text
        return f"{text}, needs {wording.requirement_words(self.operator, self.count)}"


@dataclass(frozen=True)
class Rule:
    id: int
    label: str
    role: str
    points: int
    test: AttributeTest | CountTest
    family: str = "intent"
    gates_apply: bool = False
    hand_raise: bool = False


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
    def rules_by_id(self) -> Mapping[int, Rule]:
        return {rule.id: rule for rule in self.rules}

    @cached_property
    def gates(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.role == Role.GATE)

    @cached_property
    def counts_score(self) -> bool:
        """Whether the score threshold applies: the definition has scoring
        criteria, or criteria that carry points."""
        return any(rule.role == Role.SCORING or rule.points for rule in self.rules)

    @cached_property
    def qualifies_on_gates(self) -> bool:
        """A definition of gates (and triggers) alone, with no points and no
        milestones, qualifies an account as soon as its gates hold: there is
        no score for a threshold to wait on."""
        return bool(self.gates) and not self.counts_score and not self.milestones

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
    def person_tests(self) -> tuple["AttributeTest", ...]:
        """The tests of any person in the account, each once."""
        return tuple(
            dict.fromkeys(
                rule.test
                for rule in self.rules
                if isinstance(rule.test, AttributeTest) and rule.test.subject == Subject.ANY_PERSON
            )
        )

    @cached_property
    def rule_steps(self) -> tuple:
        """The rules flattened for the hot loop of evaluate(). A count test
        is its measure, comparison and threshold, checked in line; its
        measure is the very object the facts are keyed by, so that a lookup
        is found by identity."""
        same = {measure: measure for measure in self.measures}
        steps = []
        for rule in self.rules:
            test = rule.test
            count_test = test if isinstance(test, CountTest) else None
            steps.append(
                (
                    rule.id,
                    rule.points,
                    rule.role == Role.GATE,
                    rule.role == Role.TRIGGER,
                    rule.gates_apply,
                    rule.hand_raise,
                    same[count_test.measure] if count_test else None,
                    COMPARISONS[count_test.operator] if count_test else None,
                    count_test.count if count_test else None,
                    None if count_test else test.check,
                )
            )
        return tuple(steps)

    @cached_property
    def milestone_steps(self) -> tuple:
        same = {measure: measure for measure in self.measures}
        return tuple((same[milestone.measure], milestone.min_count) for milestone in self.milestones)

    def tier_for(self, employee_count: float | None) -> Tier:
        if employee_count is not None and employee_count >= self.large_tier_min_employees:
            return Tier.LARGE
        if employee_count is not None and employee_count >= self.mid_tier_min_employees:
            return Tier.MID
        return Tier.SMALL

    def activation_threshold(self, tier: str) -> int | None:
        if not self.milestones:
            return None
        chosen = self.activation_thresholds.get(tier)
        return DEFAULT_ACTIVATION_THRESHOLDS[Tier(tier)] if chosen is None else chosen


@dataclass(slots=True)
class AccountFacts:
    """What the engine knows of one account: attributes, people and event counts."""

    account_id: int
    attributes: Mapping[str, object] = field(default_factory=dict)
    people: Sequence[Mapping[str, object]] = ()
    counts: Mapping[Measure, int] = field(default_factory=dict)
    # For each "last D days" measure with events in its window: the oldest
    # event it counts, the first to leave the window.
    oldest_counted: Mapping[Measure, datetime] = field(default_factory=dict)


TIER_RANK: dict[str, int] = {Tier.SMALL: 1, Tier.MID: 2, Tier.LARGE: 3}
SCORE_SPAN = 10_000_000  # scores from -5,000,000 to 4,999,999 keep their order


@dataclass(slots=True)
class Result:
    """One account's outcome. `explanation` is compact (ids and observed
    values, stored for every account); explain() turns it into sentences."""

    account_id: int
    score: int
    activation: int | None
    tier: str
    qualifies: bool
    triggered: bool
    explanation: dict
    next_change_at: datetime | None = None

    @property
    def priority(self) -> int:
        """Who to call first, as one sortable number: hand-raisers, then
        larger tiers, then higher scores."""
        score = min(max(self.score + SCORE_SPAN // 2, 0), SCORE_SPAN - 1)
        urgency = 8 if self.hand_raised else 4 if self.triggered else 0
        return (urgency + TIER_RANK.get(self.tier, 1)) * SCORE_SPAN + score

    @property
    def hand_raised(self) -> bool:
        """A qualifying account whose criteria marked as hand-raises hold."""
        return self.qualifies and bool(self.explanation.get("hand_raised"))


def evaluate(card: Scorecard, facts: AccountFacts) -> Result:
    """Score one account: gates, points, activation and triggers, with the why."""
    gates_hold = True
    score = 0
    checks: list[list] = []
    check_made = checks.append
    holding_triggers = []
    hand_raised = False
    counted = facts.counts.get
    for rule_id, points, is_gate, is_trigger, gates_apply, hand_raise, measure, compare, count, check in card.rule_steps:
        if check is None:
            observed = counted(measure, 0)
            held = compare(observed, count)
        else:
            held, observed = check(facts)
        if held:
            score += points
            check_made([rule_id, True, observed, points])
            hand_raised = hand_raised or hand_raise
            if is_trigger:
                holding_triggers.append((rule_id, gates_apply))
        else:
            check_made([rule_id, False, observed, 0])
            if is_gate:
                gates_hold = False
    triggers = [rule_id for rule_id, gates_apply in holding_triggers if gates_hold or not gates_apply]

    activation = None
    observed_milestones = []
    if card.milestones:
        reached = 0
        for measure, min_count in card.milestone_steps:
            observed = counted(measure, 0)
            observed_milestones.append(observed)
            reached += observed >= min_count
        activation = round(100 * reached / len(observed_milestones))
    tier = card.tier_for(to_number(facts.attributes.get("employee_count")))
    by_score = gates_hold and card.counts_score and score >= card.score_threshold
    by_activation = (
        gates_hold and activation is not None and activation >= (card.activation_threshold(tier) or 0)
    )
    by_gates = gates_hold and card.qualifies_on_gates
    explanation = {
        "gates": gates_hold,
        "triggers": triggers,
        "by_score": by_score,
        "by_activation": by_activation,
        "criteria": checks,
        "milestones": observed_milestones,
    }
    # Kept only when true: 100,000 stored explanations need not say "false" twice.
    if by_gates:
        explanation["by_gates"] = True
    if hand_raised:
        explanation["hand_raised"] = True
    return Result(
        account_id=facts.account_id,
        score=score,
        activation=activation,
        tier=tier,
        qualifies=bool(triggers) or by_score or by_activation or by_gates,
        triggered=bool(triggers),
        explanation=explanation,
        next_change_at=next_change(facts),
    )


def next_change(facts: AccountFacts) -> datetime | None:
    """The next moment this result can change with time alone, or None.

    Only a "last D days" (or hours) count reads the clock: it drops just
    after its oldest counted event leaves the window. The other windows are
    fixed by the events themselves ("within D days after signup" and
    "during the trial" are bounded by the account's own dates, "ever" by
    nothing), so a window closing changes no count: an event arriving late
    is rescored as it arrives, like any other.
    """
    if not facts.oldest_counted:
        return None
    return min(oldest + measure.span for measure, oldest in facts.oldest_counted.items())


# The order a rep reads why an account qualified: hand-raises, then triggers,
# scoring criteria by points, gates.
REASON_RANK: dict[str, int] = {Role.TRIGGER: 0, Role.SCORING: 1, Role.GATE: 2}


def why_qualified(card: Scorecard, result: Result) -> tuple[list[str], list[str]]:
    """What qualified the account (`qualified_by`) and the reasons a rep
    reads first, as explain() gives them, without the words for every
    criterion: what a status change records, for every account a rescore
    qualifies."""
    explanation = result.explanation
    rules = card.rules_by_id
    qualified_by = [f"At once: {rules[i].label}" for i in explanation.get("triggers", []) if i in rules]
    if explanation.get("by_score"):
        qualified_by.append(f"Score {result.score} reached the threshold of {card.score_threshold}")
    if explanation.get("by_activation"):
        qualified_by.append(
            f"Activation {result.activation}% reached the {Tier(result.tier).label.lower()} threshold "
            f"of {card.activation_threshold(result.tier)}%"
        )
    if explanation.get("by_gates"):
        qualified_by.append("Every gate holds")
    held = [
        (rules[rule_id], points)
        for rule_id, was_held, _observed, points in explanation.get("criteria", [])
        if was_held and points >= 0 and rule_id in rules
    ]
    held.sort(key=lambda pair: (not pair[0].hand_raise, REASON_RANK[pair[0].role], -pair[1]))
    return qualified_by, [rule.label for rule, _points in held]


def explain(card: Scorecard, result: Result) -> dict:
    """The explanation in words, criterion by criterion, for reps and the API.

    Criteria the scorecard no longer has (the definition changed since) are
    left out until the account is rescored. `reasons` are what a rep reads
    first (what fired, then what earned most points, then the gates);
    `against` the criteria that held and took points away; `not_yet` what
    has not happened yet.
    """
    explanation = result.explanation
    rules = card.rules_by_id
    criteria = []
    for rule_id, held, observed, points in explanation.get("criteria", []):
        rule = rules.get(rule_id)
        if rule is None:
            continue
        criteria.append(
            {
                "id": rule_id,
                "label": rule.label,
                "role": rule.role,
                "family": rule.family,
                "hand_raise": rule.hand_raise,
                "held": held,
                "observed": rule.test.describe(observed, held),
                "points": points,
                "worth": rule.points,
            }
        )
    fired = [rules[i].label for i in explanation.get("triggers", []) if i in rules]
    qualified_by, reasons = why_qualified(card, result)
    held = [entry for entry in criteria if entry["held"]]
    # Who to contact: whoever did the hand-raise, else whom a person test matched.
    hand_raise_tests = [rules[entry["id"]].test for entry in held if entry["hand_raise"]]
    hand_raise_events = sorted(
        {test.measure.event_name for test in hand_raise_tests if isinstance(test, CountTest)} - {""}
    )
    matched_people = [
        observed[0]
        for rule_id, was_held, observed, _points in explanation.get("criteria", [])
        if was_held and rule_id in rules and isinstance(observed, list | tuple) and observed
    ]
    against = [entry["label"] for entry in held if entry["points"] < 0]
    not_yet = [
        entry["label"]
        for entry in criteria
        if not entry["held"] and (entry["role"] == Role.GATE or entry["worth"] >= 0)
    ]
    observed_milestones = explanation.get("milestones", [])
    milestones = [
        {
            "id": milestone.id,
            "label": milestone.label,
            "reached": observed >= milestone.min_count,
            "observed": observed,
            "needed": milestone.min_count,
        }
        for milestone, observed in zip(card.milestones, observed_milestones, strict=False)
    ]
    return {
        "definition": card.name,
        "gates_hold": explanation.get("gates", False),
        "score_threshold": card.score_threshold if card.counts_score else None,
        "activation_threshold": card.activation_threshold(result.tier),
        "qualifies": result.qualifies,
        "hand_raised": result.hand_raised,
        "fired": fired,
        "qualified_by": qualified_by,
        "reasons": reasons,
        "against": against,
        "not_yet": not_yet,
        "hand_raise_events": hand_raise_events,
        "matched_people": matched_people,
        "criteria": criteria,
        "milestones": milestones,
    }


def lookup(values: Mapping[str, object], name: str):
    """A field, or a trait as traits.KEY."""
    if name.startswith("traits."):
        traits = values.get("traits") or {}
        return traits.get(name.removeprefix("traits.")) if isinstance(traits, Mapping) else None
    return values.get(name)


def to_number(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        value = value.strip()
        # Most text is not a number; skip the costly failed float() for it.
        if value[:1].isdigit() or value[:1] in ("+", "-", "."):
            try:
                return float(value)
            except ValueError:
                return None
    return None


COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    Operator.EQ: operator.eq,
    Operator.GT: operator.gt,
    Operator.GTE: operator.ge,
    Operator.LT: operator.lt,
    Operator.LTE: operator.le,
}


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
