"""The users' cases from the domain notes, each configured as a manager would
(validated criteria, no code) and checked account by account."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import Account, Event, Person, Plan
from scoring.definitions import create_definition
from scoring.models import Definition
from scoring.rescoring import rescore_all

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def define(*, threshold=1000, **settings) -> Definition:
    """An active definition, each part validated as the admin validates it."""
    return create_definition(name="Case", is_active=True, score_threshold=threshold, **settings)


def make_account(name, *, titles=(), signed_up_days_ago=30, **fields) -> Account:
    fields.setdefault("employee_count", 30)
    signed_up = NOW - timedelta(days=signed_up_days_ago)
    created = Account.objects.create(name=name, signed_up_at=signed_up, **fields)
    for index, title in enumerate(titles):
        Person.objects.create(account=created, email=f"p{index}@{name.lower()}.com", title=title)
    return created


def did(target: Account, name: str, times: int = 1, *, day: float = 1, **properties):
    """`times` events named `name`, `day` days after the account signed up."""
    at = target.signed_up_at + timedelta(days=day)
    Event.objects.bulk_create(
        Event(account=target, name=name, occurred_at=at, properties=properties) for _ in range(times)
    )


def pqls() -> set[str]:
    rescore_all(reason="test")
    return set(Account.objects.pql().values_list("name", flat=True))


def test_case_1_law_firms_qualify_on_fit_and_first_hour_or_on_many_invites():
    define(
        threshold=10,
        criteria=[
            dict(label="Legal roles", role="gate", family="fit", kind="attribute",
                 subject="any_person", field="title", operator="contains_words",
                 value="associate, operations, administrative"),
            dict(label="Legal industry", role="gate", family="fit", kind="attribute",
                 field="industry", operator="eq", value="legal"),
            dict(label="More than 20 employees", role="gate", family="scope", kind="attribute",
                 field="employee_count", operator="gt", value="20"),
            dict(label="Logged a first hour", role="scoring", points=10, kind="event_count",
                 event_name="hour_logged", operator="gte", value="1"),
            dict(label="Invited more than 10 users", role="trigger", kind="event_count",
                 event_name="invite_sent", operator="gt", value="10"),
        ],
    )
    firm = make_account("Firm", industry="legal", employee_count=45, titles=["Senior Associate"])
    did(firm, "hour_logged")
    partners_only = make_account("Partners", industry="legal", employee_count=45, titles=["Partner"])
    did(partners_only, "hour_logged")
    shop = make_account("Shop", industry="retail", employee_count=45, titles=["Associate"])
    did(shop, "hour_logged")
    small_firm = make_account("Small", industry="legal", employee_count=10, titles=["Office Administrative Lead"])
    did(small_firm, "hour_logged")
    make_account("Idle", industry="legal", employee_count=45, titles=["Operations Manager"])
    inviter = make_account("Inviter", industry="retail", employee_count=3, plan=Plan.FREE)
    did(inviter, "invite_sent", 11)
    almost = make_account("Almost", industry="retail", employee_count=3, plan=Plan.FREE)
    did(almost, "invite_sent", 10)

    assert pqls() == {"Firm", "Inviter"}


def test_case_2_team_messaging_two_thousand_messages_or_channels_invite_and_limit():
    define(
        threshold=3,
        criteria=[
            dict(label="2,000 messages", role="trigger", event_name="message_sent",
                 operator="gte", value="2000"),
            dict(label="More than two channels", points=1, event_name="channel_created",
                 operator="gt", value="2"),
            dict(label="Invited a teammate", points=1, event_name="invite_sent",
                 operator="gte", value="1"),
            dict(label="Hit the message limit", points=1, event_name="usage_limit_hit",
                 property_key="limit", property_value="messages", operator="gte", value="1"),
        ],
    )
    did(make_account("Chatty"), "message_sent", 2000)
    did(make_account("Nearly"), "message_sent", 1999)
    for name, limit, channels in [("Growing", "messages", 3), ("Storage", "storage", 3), ("Few", "messages", 2)]:
        team = make_account(name)
        did(team, "channel_created", channels)
        did(team, "invite_sent")
        did(team, "usage_limit_hit", limit=limit)

    assert pqls() == {"Chatty", "Growing"}


def test_case_3_social_network_seven_friends_within_ten_days():
    define(
        criteria=[
            dict(label="7 friends in 10 days", role="trigger", event_name="friend_added",
                 operator="gte", value="7", window="after_signup", window_days=10),
        ]
    )
    did(make_account("Early"), "friend_added", 7, day=3)
    late = make_account("Late")
    did(late, "friend_added", 3, day=3)
    did(late, "friend_added", 4, day=12)
    did(make_account("Six"), "friend_added", 6, day=1)

    assert pqls() == {"Early"}


def test_case_4_minimum_viable_pql_ten_logins():
    define(criteria=[dict(label="10 logins", role="trigger", event_name="login", operator="gte", value="10")])
    did(make_account("Ten"), "login", 10)
    did(make_account("Nine"), "login", 9)

    assert pqls() == {"Ten"}


def test_case_5_template_within_a_week_of_signup():
    define(
        criteria=[
            dict(label="Template in week one", role="trigger", event_name="template_created",
                 operator="gte", value="1", window="after_signup", window_days=7),
        ]
    )
    did(make_account("Quick"), "template_created", day=6.5)
    did(make_account("Slow"), "template_created", day=8)

    assert pqls() == {"Quick"}


def test_case_6_bookkeeping_financial_document_during_trial_in_canada_only():
    define(
        threshold=1,
        criteria=[
            dict(label="Canada", role="gate", family="fit", kind="attribute", field="country",
                 operator="eq", value="CA"),
            dict(label="Uploaded a financial document in the trial", points=1,
                 event_name="file_uploaded", property_key="kind",
                 property_value="financial_statement", window="trial", operator="gte", value="1"),
        ],
    )

    def trial_account(name, country):
        created = make_account(name, country=country, signed_up_days_ago=20)
        created.trial_ends_at = created.signed_up_at + timedelta(days=14)
        created.save()
        return created

    did(trial_account("Maple", "CA"), "file_uploaded", day=5, kind="financial_statement")
    did(trial_account("Eagle", "US"), "file_uploaded", day=5, kind="financial_statement")
    did(trial_account("Receipts", "CA"), "file_uploaded", day=5, kind="receipt")
    did(trial_account("AfterTrial", "CA"), "file_uploaded", day=16, kind="financial_statement")

    assert pqls() == {"Maple"}


def test_case_7_activation_by_size_small_at_75_mid_at_60_large_at_25():
    define(
        milestones=[
            dict(label=name, event_name=name)
            for name in ["invite_sent", "channel_created", "file_uploaded", "message_sent"]
        ],
        mid_tier_min_employees=50,
        large_tier_min_employees=500,
    )

    def activated(name, employees, steps):
        created = make_account(name, employee_count=employees)
        for event_name in ["invite_sent", "channel_created", "file_uploaded"][:steps]:
            did(created, event_name)

    activated("Small3", 8, 3)
    activated("Small2", 8, 2)
    activated("Mid3", 80, 3)
    activated("Mid2", 80, 2)
    activated("Large1", 900, 1)
    activated("Large0", 900, 0)

    assert pqls() == {"Small3", "Mid3", "Large1"}


def test_recent_activity_and_days_active_windows():
    define(
        criteria=[
            dict(label="Active lately", role="trigger", event_name="login", operator="gte",
                 value="3", window="last_days", window_days=7),
            dict(label="Five active days", role="trigger", kind="days_active", operator="gte",
                 value="5"),
        ]
    )
    recent = make_account("Recent", signed_up_days_ago=40)
    did(recent, "login", 3, day=36)
    stale = make_account("Stale", signed_up_days_ago=40)
    did(stale, "login", 3, day=10)
    regular = make_account("Regular", signed_up_days_ago=40)
    for day in range(1, 6):
        did(regular, "file_uploaded", day=day)
    four_days = make_account("FourDays", signed_up_days_ago=40)
    for day in range(1, 5):
        did(four_days, "login", 2, day=day)

    assert pqls() == {"Recent", "Regular"}
