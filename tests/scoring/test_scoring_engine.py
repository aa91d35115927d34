"""The PQL rules on plain facts: no database, one behaviour per test."""

from scoring.engine import (
    AccountFacts,
    AttributeTest,
    CountTest,
    Measure,
    MilestoneRule,
    Rule,
    Scorecard,
    evaluate,
    explain,
    why_qualified,
)
from scoring.terms import Operator, Role, Subject, Window

INVITES = Measure(event_name="invite_sent")
HOURS = Measure(event_name="hour_logged")


def card(*rules, threshold=10, milestones=(), **settings):
    return Scorecard(
        id=1, name="Test", score_threshold=threshold, rules=rules, milestones=milestones, **settings
    )


def rule(test, *, role=Role.SCORING, points=0, label="rule", gates_apply=False, rule_id=1):
    return Rule(id=rule_id, label=label, role=role, points=points, test=test, gates_apply=gates_apply)


def facts(counts=None, people=(), **attributes):
    return AccountFacts(account_id=7, attributes=attributes, people=people, counts=counts or {})


def test_a_trigger_qualifies_at_once_and_explains_the_count():
    invites = rule(CountTest(INVITES, Operator.GT, 10), role=Role.TRIGGER, label="Invited over 10")
    result = evaluate(card(invites, threshold=1000), facts({INVITES: 12}))

    assert result.qualifies and result.triggered
    words = explain(card(invites, threshold=1000), result)
    assert words["criteria"][0]["observed"] == "Sent 12 invites"
    assert words["qualified_by"] == ["At once: Invited over 10"]
    assert words["reasons"] == ["Invited over 10"]


def test_a_count_at_the_limit_does_not_pass_greater_than():
    invites = rule(CountTest(INVITES, Operator.GT, 10), role=Role.TRIGGER)
    result = evaluate(card(invites), facts({INVITES: 10}))
    assert not result.qualifies
    assert explain(card(invites), result)["criteria"][0]["observed"] == "Sent 10 invites, needs more than 10"


def test_points_add_up_to_the_threshold_only_when_gates_hold():
    legal = rule(AttributeTest(Subject.ACCOUNT, "industry", Operator.EQ, "legal"), role=Role.GATE)
    hours = rule(CountTest(HOURS, Operator.GTE, 1), points=10, rule_id=2)

    assert evaluate(card(legal, hours), facts({HOURS: 3}, industry="Legal")).qualifies
    outside = evaluate(card(legal, hours), facts({HOURS: 3}, industry="retail"))
    assert outside.score == 10 and not outside.qualifies
    assert explain(card(legal, hours), outside)["gates_hold"] is False


def test_negative_points_pull_the_score_down():
    hours = rule(CountTest(HOURS, Operator.GTE, 1), points=10)
    student = rule(
        AttributeTest(Subject.ACCOUNT, "traits.segment", Operator.EQ, "student"), points=-20, rule_id=2
    )
    result = evaluate(card(hours, student), facts({HOURS: 1}, traits={"segment": "student"}))
    assert result.score == -10 and not result.qualifies


def test_a_trigger_with_gates_apply_waits_for_the_gates():
    canada = rule(AttributeTest(Subject.ACCOUNT, "country", Operator.EQ, "CA"), role=Role.GATE)
    invites = rule(
        CountTest(INVITES, Operator.GT, 10), role=Role.TRIGGER, gates_apply=True, rule_id=2
    )
    assert not evaluate(card(canada, invites), facts({INVITES: 11}, country="US")).qualifies
    assert evaluate(card(canada, invites), facts({INVITES: 11}, country="CA")).qualifies


def test_a_trigger_ignores_gates_unless_told():
    canada = rule(AttributeTest(Subject.ACCOUNT, "country", Operator.EQ, "CA"), role=Role.GATE)
    invites = rule(CountTest(INVITES, Operator.GT, 10), role=Role.TRIGGER, rule_id=2)
    assert evaluate(card(canada, invites), facts({INVITES: 11}, country="US")).qualifies


def test_title_words_match_whole_words_case_insensitively_for_any_person():
    titles = rule(
        AttributeTest(Subject.ANY_PERSON, "title", Operator.CONTAINS_WORDS, ("associate", "operations")),
        role=Role.GATE,
    )
    people = [{"email": "a@x.com", "title": "Partner"}, {"email": "b@x.com", "title": "Senior ASSOCIATE"}]
    result = evaluate(card(titles, threshold=0), facts(people=people))
    assert result.qualifies
    observed = explain(card(titles, threshold=0), result)["criteria"][0]["observed"]
    assert observed == "b@x.com has title Senior ASSOCIATE"

    lookalike = [{"email": "c@x.com", "title": "Associates Program Lead"}]
    assert not evaluate(card(titles, threshold=0), facts(people=lookalike)).qualifies
    assert not evaluate(card(titles, threshold=0), facts(people=[])).qualifies


def test_numbers_compare_as_numbers_and_missing_values_never_pass():
    big = rule(AttributeTest(Subject.ACCOUNT, "employee_count", Operator.GT, 50.0), role=Role.GATE)
    assert evaluate(card(big, threshold=0), facts(employee_count=51)).qualifies
    assert not evaluate(card(big, threshold=0), facts(employee_count=50)).qualifies
    assert not evaluate(card(big, threshold=0), facts(employee_count=None)).qualifies


def test_one_of_and_is_set():
    plans = rule(AttributeTest(Subject.ACCOUNT, "plan", Operator.IN, ("trial", "free")), role=Role.GATE)
    domain = rule(AttributeTest(Subject.ACCOUNT, "domain", Operator.IS_SET, None), role=Role.GATE, rule_id=2)
    assert evaluate(card(plans, domain, threshold=0), facts(plan="Trial", domain="x.com")).qualifies
    assert not evaluate(card(plans, domain, threshold=0), facts(plan="paid", domain="x.com")).qualifies
    assert not evaluate(card(plans, domain, threshold=0), facts(plan="free", domain="")).qualifies


def test_tiers_follow_employee_count_bounds():
    scorecard = card(mid_tier_min_employees=50, large_tier_min_employees=500)
    assert [scorecard.tier_for(n) for n in (None, 49, 50, 499, 500)] == [
        "small", "small", "mid", "mid", "large",
    ]


def milestone(index, name):
    return MilestoneRule(id=index, label=name, measure=Measure(event_name=name))


FOUR_STEPS = tuple(
    milestone(i, name)
    for i, name in enumerate(["invite_sent", "channel_created", "file_uploaded", "message_sent"])
)


def test_activation_thresholds_depend_on_the_tier():
    scorecard = card(threshold=1000, milestones=FOUR_STEPS, large_tier_min_employees=500)
    one_step = {FOUR_STEPS[0].measure: 1}
    three_steps = {m.measure: 1 for m in FOUR_STEPS[:3]}

    large = evaluate(scorecard, facts(one_step, employee_count=900))
    assert (large.activation, large.tier, large.qualifies) == (25, "large", True)
    small = evaluate(scorecard, facts(one_step, employee_count=5))
    assert (small.activation, small.qualifies) == (25, False)
    assert evaluate(scorecard, facts(three_steps, employee_count=5)).qualifies
    mid = evaluate(scorecard, facts({m.measure: 1 for m in FOUR_STEPS[:2]}, employee_count=80))
    assert (mid.activation, mid.qualifies) == (50, False)


def test_custom_activation_threshold_overrides_the_default():
    scorecard = card(
        threshold=1000, milestones=FOUR_STEPS, activation_thresholds={"small": 100}
    )
    three_steps = {m.measure: 1 for m in FOUR_STEPS[:3]}
    assert not evaluate(scorecard, facts(three_steps, employee_count=5)).qualifies


def test_no_milestones_means_no_activation():
    result = evaluate(card(threshold=1000), facts(employee_count=5))
    assert result.activation is None and not result.qualifies


def test_scorecard_lists_each_measure_once():
    windowed = Measure(event_name="template_created", window=Window.AFTER_SIGNUP, window_days=7)
    scorecard = card(
        rule(CountTest(INVITES, Operator.GT, 10)),
        rule(CountTest(INVITES, Operator.GT, 2), rule_id=2),
        rule(CountTest(windowed, Operator.GTE, 1), rule_id=3),
        milestones=(MilestoneRule(id=1, label="invite", measure=INVITES),),
    )
    assert scorecard.measures == {INVITES, windowed}


def test_priority_orders_hand_raisers_then_tier_then_score():
    from scoring.engine import Result

    def priority(score, tier="small", triggered=False):
        return Result(1, score, None, tier, True, triggered, {}).priority

    ordered = [
        priority(5, "small", triggered=True),
        priority(500, "large"),
        priority(-20, "large"),
        priority(90, "mid"),
        priority(80, "small"),
        priority(-80, "small"),
    ]
    assert ordered == sorted(ordered, reverse=True)
    # Scores beyond five million either way keep their tier's place, clamped.
    assert priority(10**9) == priority(4_999_999) < priority(0, "mid")
    assert priority(-(10**9)) == priority(-5_000_000) > priority(0, "small") - 10**7


def test_why_it_qualified_is_what_the_explanation_says_first():
    """A rescore records qualified_by and the reasons for every new PQL
    without building the words for every criterion: the same lists."""
    legal = rule(AttributeTest(Subject.ACCOUNT, "industry", Operator.EQ, "legal"), role=Role.GATE, label="Legal")
    hours = rule(CountTest(HOURS, Operator.GTE, 1), points=10, label="Logs hours", rule_id=2)
    invites = rule(CountTest(INVITES, Operator.GTE, 1), points=20, label="Invites", rule_id=3)
    asked = rule(CountTest(Measure(event_name="contact_sales_clicked"), Operator.GTE, 1), role=Role.TRIGGER,
                 label="Asked for sales", rule_id=4)  # fmt: skip
    scorecard = card(legal, hours, invites, asked, threshold=25)
    for counts in ({HOURS: 3, INVITES: 2}, {Measure(event_name="contact_sales_clicked"): 1}, {HOURS: 1}):
        result = evaluate(scorecard, facts(counts, industry="legal"))
        words = explain(scorecard, result)
        assert why_qualified(scorecard, result) == (words["qualified_by"], words["reasons"])
