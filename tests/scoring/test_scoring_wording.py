"""Reasons a rep reads in five seconds, the definition read back as one
sentence, and the warnings a manager sees before saving: plain facts, no
database."""

from datetime import timedelta

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
)
from scoring.sentences import most_points, sentence, warnings
from scoring.terms import Operator, Role, Subject, Window, WindowUnit

PRICING = Measure(event_name="pricing_page_viewed")
HOURS_WEEK_ONE = Measure(event_name="hour_logged", window=Window.AFTER_SIGNUP, window_days=7)
INVITES = Measure(event_name="invite_sent")
CONTACT = Measure(event_name="contact_sales_clicked")


def rule(rule_id, label, test, *, role=Role.SCORING, points=0, hand_raise=False, gates_apply=False):
    return Rule(
        id=rule_id, label=label, role=role, points=points, test=test, hand_raise=hand_raise,
        gates_apply=gates_apply,
    )


def card(*rules, threshold=50, milestones=()):
    return Scorecard(id=1, name="Test", score_threshold=threshold, rules=rules, milestones=milestones)


def words(scorecard, counts=None, people=(), **attributes):
    facts = AccountFacts(account_id=1, attributes=attributes, people=people, counts=counts or {})
    return explain(scorecard, evaluate(scorecard, facts))


def observed(scorecard, **kwargs):
    return [entry["observed"] for entry in words(scorecard, **kwargs)["criteria"]]


def test_an_event_count_reads_as_what_the_account_did():
    pricing = card(rule(1, "Viewed pricing", CountTest(PRICING, Operator.GTE, 1), points=20))
    assert observed(pricing, counts={PRICING: 3}) == ["Viewed pricing 3 times"]
    assert observed(pricing, counts={PRICING: 1}) == ["Viewed pricing once"]


def test_a_count_not_reached_says_what_it_needs():
    hours = card(rule(1, "Logged an hour in week one", CountTest(HOURS_WEEK_ONE, Operator.GTE, 1)))
    assert observed(hours) == ["Logged 0 hours in the first 7 days, needs at least 1"]
    assert words(hours)["not_yet"] == ["Logged an hour in week one"]


def test_a_window_in_hours_reads_in_hours():
    quick = Measure(event_name="invite_sent", window=Window.LAST_DAYS, window_days=48, window_unit=WindowUnit.HOURS)
    assert quick.span == timedelta(hours=48)
    invites = card(rule(1, "Invites today", CountTest(quick, Operator.GT, 10), role=Role.TRIGGER))
    assert observed(invites, counts={quick: 11}) == ["Sent 11 invites in the last 48 hours"]


def test_a_failed_number_test_reads_as_failed():
    size = card(rule(1, "At least 50 employees", AttributeTest(Subject.ACCOUNT, "employee_count", Operator.GTE, 50.0)))
    entry = words(size, employee_count=49)["criteria"][0]
    assert entry["held"] is False
    assert entry["observed"] == "49 employees, not at least 50"
    assert words(size, employee_count=51)["criteria"][0]["observed"] == "51 employees, at least 50"


def test_a_failed_one_of_test_reads_as_failed():
    countries = card(rule(1, "North America", AttributeTest(Subject.ACCOUNT, "country", Operator.IN, ("US", "CA"))))
    entry = words(countries, country="DE")["criteria"][0]
    assert entry["held"] is False
    assert entry["observed"] == "Country is DE, not one of US, CA"
    assert words(countries, country="US")["criteria"][0]["observed"] == "Country is US"


def test_a_missing_attribute_reads_as_not_set():
    industry = card(rule(1, "Legal", AttributeTest(Subject.ACCOUNT, "industry", Operator.EQ, "legal")))
    assert observed(industry) == ["Industry is not set, not legal"]


def test_a_person_test_names_who_matched_or_says_nobody_did():
    titles = AttributeTest(Subject.ANY_PERSON, "title", Operator.CONTAINS_WORDS, ("associate", "operations"))
    roles = card(rule(1, "Legal roles", titles))
    people = [{"email": "jo@firm.com", "title": "Senior Associate"}]
    assert observed(roles, people=people) == ["jo@firm.com has title Senior Associate"]
    assert observed(roles, people=[{"email": "x@firm.com", "title": "Partner"}]) == [
        "Nobody has a title containing associate or operations"
    ]


def test_a_negative_criterion_is_never_a_reason_why():
    segment = AttributeTest(Subject.ACCOUNT, "industry", Operator.IN, ("education", "nonprofit"))
    scorecard = card(
        rule(1, "Viewed pricing", CountTest(PRICING, Operator.GTE, 1), points=60),
        rule(2, "Segment we do not sell to", segment, points=-30),
        threshold=10,
    )
    explained = words(scorecard, counts={PRICING: 2}, industry="education")
    assert explained["qualifies"]
    assert explained["reasons"] == ["Viewed pricing"]
    assert explained["against"] == ["Segment we do not sell to"]
    assert "Segment we do not sell to" not in explained["not_yet"]


def test_only_criteria_marked_as_hand_raises_earn_the_badge():
    scorecard = card(
        rule(1, "Invited more than 10", CountTest(INVITES, Operator.GT, 10), role=Role.TRIGGER),
        rule(2, "Asked for sales", CountTest(CONTACT, Operator.GTE, 1), role=Role.TRIGGER, hand_raise=True),
    )
    inviter = words(scorecard, counts={INVITES: 11})
    assert inviter["qualifies"] and inviter["fired"] == ["Invited more than 10"]
    assert inviter["hand_raised"] is False
    asker = words(scorecard, counts={CONTACT: 1})
    assert asker["hand_raised"] is True
    assert asker["fired"] == ["Asked for sales"]
    assert asker["qualified_by"] == ["At once: Asked for sales"]


def test_a_hand_raise_comes_before_another_trigger_in_priority():
    scorecard = card(
        rule(1, "Invited more than 10", CountTest(INVITES, Operator.GT, 10), role=Role.TRIGGER),
        rule(2, "Asked for sales", CountTest(CONTACT, Operator.GTE, 1), role=Role.TRIGGER, hand_raise=True),
    )

    def priority(counts):
        return evaluate(scorecard, AccountFacts(account_id=1, counts=counts)).priority

    assert priority({CONTACT: 1}) > priority({INVITES: 11}) > priority({})


def legal_gates():
    return (
        rule(1, "Legal roles", AttributeTest(Subject.ANY_PERSON, "title", Operator.CONTAINS_WORDS, ("associate",)), role=Role.GATE),
        rule(2, "Legal industry", AttributeTest(Subject.ACCOUNT, "industry", Operator.EQ, "legal"), role=Role.GATE),
        rule(3, "More than 20 employees", AttributeTest(Subject.ACCOUNT, "employee_count", Operator.GT, 20.0), role=Role.GATE),
        rule(4, "Logged a first hour", CountTest(Measure(event_name="hour_logged"), Operator.GTE, 1), role=Role.GATE),
    )


def test_a_definition_of_gates_alone_qualifies_on_its_gates():
    scorecard = card(
        *legal_gates(),
        rule(5, "Invited more than 10", CountTest(INVITES, Operator.GT, 10), role=Role.TRIGGER),
        threshold=50,
    )
    firm = words(
        scorecard,
        counts={Measure(event_name="hour_logged"): 1},
        people=[{"email": "a@firm.com", "title": "Associate"}],
        industry="legal",
        employee_count=45,
    )
    assert firm["qualifies"]
    assert firm["qualified_by"] == ["Every gate holds"]
    assert firm["score_threshold"] is None
    assert firm["reasons"] == ["Legal roles", "Legal industry", "More than 20 employees", "Logged a first hour"]
    idle = words(scorecard, people=[{"email": "a@firm.com", "title": "Associate"}], industry="legal", employee_count=45)
    assert not idle["qualifies"]
    assert idle["not_yet"] == ["Logged a first hour", "Invited more than 10"]


def test_gates_with_scoring_criteria_still_wait_for_the_threshold():
    scorecard = card(*legal_gates()[1:3], rule(9, "Viewed pricing", CountTest(PRICING, Operator.GTE, 1), points=10), threshold=20)
    assert not words(scorecard, counts={PRICING: 1}, industry="legal", employee_count=45)["qualifies"]


def test_a_trigger_only_definition_qualifies_nobody_without_a_trigger():
    scorecard = card(rule(1, "Invited more than 10", CountTest(INVITES, Operator.GT, 10), role=Role.TRIGGER))
    assert not words(scorecard, counts={INVITES: 3})["qualifies"]


def test_the_sentence_reads_the_whole_definition():
    scorecard = card(
        rule(1, "Legal", AttributeTest(Subject.ACCOUNT, "industry", Operator.EQ, "legal"), role=Role.GATE),
        rule(2, "Viewed pricing", CountTest(PRICING, Operator.GTE, 1), points=60),
        rule(3, "Asked for sales", CountTest(CONTACT, Operator.GTE, 1), role=Role.TRIGGER),
        rule(4, "Invited more than 10", CountTest(INVITES, Operator.GT, 10), role=Role.TRIGGER),
        threshold=60,
        milestones=(MilestoneRule(id=1, label="Invited 3", measure=INVITES, min_count=3),),
    )
    assert sentence(scorecard) == (
        "An account is a PQL when “Legal” holds and its score reaches 60 or its activation "
        "reaches its tier's threshold; or at once when any of “Asked for sales” or "
        "“Invited more than 10” happens."
    )


def test_the_sentence_of_gates_alone_has_no_threshold():
    scorecard = card(*legal_gates(), rule(5, "Invited more than 10", CountTest(INVITES, Operator.GT, 10), role=Role.TRIGGER))
    assert sentence(scorecard) == (
        "An account is a PQL when all of “Legal roles”, “Legal industry”, “More than 20 employees”, "
        "“Logged a first hour” hold; or at once when “Invited more than 10” happens."
    )


def test_an_empty_definition_says_nothing_qualifies():
    assert sentence(card()).startswith("No account can be a PQL yet")


def test_an_unreachable_threshold_is_warned_of():
    scorecard = card(
        rule(1, "Viewed pricing", CountTest(PRICING, Operator.GTE, 1), points=20),
        rule(2, "Bad segment", AttributeTest(Subject.ACCOUNT, "industry", Operator.EQ, "x"), points=-30),
        threshold=50,
    )
    assert most_points(scorecard) == 20
    found = warnings(scorecard)
    assert len(found) == 1 and "out of reach" in found[0] and "at most 20 points" in found[0]
    assert warnings(card(rule(1, "Viewed pricing", CountTest(PRICING, Operator.GTE, 1), points=50))) == []


def test_an_event_never_seen_is_warned_of():
    scorecard = card(rule(1, "Templates", CountTest(Measure(event_name="template_made"), Operator.GTE, 1), role=Role.TRIGGER))
    found = warnings(scorecard, seen_events={"login": 10})
    assert found == ["“Templates” can never hold (no event named “template_made” has ever been received): it never adds anything."]
    assert warnings(scorecard, seen_events={"template_made": 1}) == []


def test_a_count_below_zero_can_never_hold():
    scorecard = card(rule(1, "Gate", CountTest(PRICING, Operator.LT, 0), role=Role.GATE))
    assert "no account can pass its gates" in warnings(scorecard)[0]
