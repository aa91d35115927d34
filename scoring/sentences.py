"""A definition read back in words, and what a manager should be warned of
before saving it: one sentence for the whole rule, the most points it can
give, and thresholds or criteria that can never be met.

Pure functions of a scorecard (the engine's form of a definition), so the
admin, the lab and the preview of an unsaved draft read it the same way.
"""

from collections.abc import Mapping

from .engine import AttributeTest, CountTest, Rule, Scorecard
from .terms import Operator, Role, Subject
from .wording import (
    expectation_words,
    field_words,
    humanized,
    or_list,
    requirement_words,
    window_words,
)


def test_words(rule: Rule) -> str:
    """What a criterion asks for, e.g. 'invite_sent happens more than 10 times'."""
    test = rule.test
    if isinstance(test, CountTest):
        measure = test.measure
        if measure.distinct_days:
            what = f"active on {requirement_words(test.operator, test.count)} days"
            if measure.event_name:
                what = f"{humanized(measure.event_name)} on {requirement_words(test.operator, test.count)} days"
        else:
            name = measure.event_name or "any event"
            what = f"{name} {requirement_words(test.operator, test.count)} times"
        if measure.property_key:
            what += f" with {measure.property_key} {measure.property_value}"
        return what + window_words(measure.window, measure.window_days, measure.window_unit)
    whose = "someone's " if test.subject == Subject.ANY_PERSON else ""
    if test.operator == Operator.IS_SET:
        return f"{whose}{field_words(test.field)} is set"
    return f"{whose}{field_words(test.field)} is {expectation_words(test.operator, test.value)}"


def named(rule: Rule) -> str:
    return f"“{rule.label}”"


def all_of(rules) -> str:
    names = [named(rule) for rule in rules]
    return names[0] if len(names) == 1 else "all of " + ", ".join(names)


def any_of(rules) -> str:
    names = [named(rule) for rule in rules]
    return names[0] if len(names) == 1 else "any of " + or_list(names)


def sentence(card: Scorecard) -> str:
    """The whole definition in one sentence, e.g.: An account is a PQL when
    all of “Legal”, “Over 20 people” hold and its score reaches 60 or its
    activation reaches its tier's threshold; or at once when any of
    “Asked for sales”, “Hit a limit” happens."""
    gates = card.gates
    triggers = [rule for rule in card.rules if rule.role == Role.TRIGGER]
    free_triggers = [rule for rule in triggers if not rule.gates_apply]
    gated_triggers = [rule for rule in triggers if rule.gates_apply]
    paths = []
    if card.counts_score:
        paths.append(f"its score reaches {card.score_threshold}")
    if card.milestones:
        paths.append("its activation reaches its tier's threshold")
    if gated_triggers:
        paths.append(f"{any_of(gated_triggers)} happens")
    clauses = []
    if gates:
        verb = "holds" if len(gates) == 1 else "hold"
        if paths:
            clauses.append(f"when {all_of(gates)} {verb} and " + " or ".join(paths))
        else:
            clauses.append(f"when {all_of(gates)} {verb}")
    elif paths:
        clauses.append("when " + " or ".join(paths))
    if free_triggers:
        prefix = "or at once" if clauses else "at once"
        clauses.append(f"{prefix} when {any_of(free_triggers)} happens")
    if not clauses:
        return "No account can be a PQL yet: add a gate, a scoring criterion, a milestone or a trigger."
    return "An account is a PQL " + "; ".join(clauses) + "."


def most_points(card: Scorecard) -> int:
    """The highest score an account can reach whose gates hold: every gate's
    points (they all hold) and every other criterion that adds points."""
    return sum(
        rule.points for rule in card.rules if rule.role == Role.GATE or rule.points > 0
    )


def never_holds(rule: Rule, *, seen_events: Mapping[str, int] | None) -> str | None:
    """Why a criterion can never hold, or None."""
    test = rule.test
    if isinstance(test, CountTest):
        if test.operator == Operator.LT and test.count <= 0:
            return "a count is never below 0"
        name = test.measure.event_name
        zero_passes = test.operator in (Operator.LT, Operator.LTE) or (
            test.operator == Operator.EQ and test.count == 0
        )
        if name and seen_events is not None and name not in seen_events and not zero_passes:
            return f"no event named “{name}” has ever been received"
        return None
    below_zero = (test.operator == Operator.LT and test.value <= 0) or (
        test.operator == Operator.LTE and test.value < 0
    )
    if isinstance(test, AttributeTest) and test.field == "employee_count" and below_zero:
        return "an employee count is never below 0"
    return None


def warnings(card: Scorecard, *, seen_events: Mapping[str, int] | None = None) -> list[str]:
    """What would make the definition qualify fewer accounts than its manager thinks."""
    found = []
    reachable = most_points(card)
    if card.counts_score and card.score_threshold > reachable:
        found.append(
            f"The score threshold ({card.score_threshold}) is out of reach: all criteria together "
            f"give at most {reachable} points, so no account qualifies by score."
        )
    for rule in card.rules:
        reason = never_holds(rule, seen_events=seen_events)
        if reason:
            what = "no account can pass its gates" if rule.role == Role.GATE else "it never adds anything"
            found.append(f"“{rule.label}” can never hold ({reason}): {what}.")
    for milestone in card.milestones:
        name = milestone.measure.event_name
        if name and seen_events is not None and name not in seen_events:
            found.append(f"Milestone “{milestone.label}”: no event named “{name}” has ever been received.")
    return found
