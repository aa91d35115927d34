"""The demo seed: exact counts, reproducible data, consistent histories."""

import json
import re
from datetime import UTC, datetime
from io import StringIO
from itertools import count

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db.models import F, Max, Min

from leads import demo
from leads.bulk_insert import reserve_ids
from leads.demo import seeding
from leads.groups import SALES_REPS
from leads.models import Account, Event, LeadStatus, Person, Plan, SalesRep, StatusChange

ANCHOR = datetime(2026, 1, 15, tzinfo=UTC)
SMALL = ("--accounts", "40", "--events", "2000", "--anchor", "2026-01-15")


def seed(*args: str) -> list[str]:
    out = StringIO()
    call_command("seed_demo", *SMALL, *args, stdout=out)
    return out.getvalue().splitlines()


def snapshot() -> dict[str, list]:
    """The seeded data without database ids, which differ between runs."""
    accounts = sorted(
        Account.objects.values_list(
            "name",
            "industry",
            "country",
            "employee_count",
            "plan",
            "signed_up_at",
            "trial_ends_at",
            "traits",
            "status",
            "last_event_at",
            "owner__user__username",
        ),
        key=repr,
    )
    event_rows = Event.objects.values_list(
        "account__name", "name", "properties", "occurred_at", "received_at", "message_id"
    )
    events = sorted(
        (
            account,
            name,
            json.dumps(properties, sort_keys=True),
            occurred,
            received,
            message_id.rsplit("-", 1)[1],  # its number within the account, not the account id
        )
        for account, name, properties, occurred, received, message_id in event_rows
    )
    people = sorted(
        Person.objects.values_list(
            "account__name", "name", "title", "first_seen_at", "last_seen_at"
        ),
        key=repr,
    )
    changes = sorted(
        StatusChange.objects.values_list(
            "account__name", "from_status", "to_status", "changed_at", "cause", "reason"
        ),
        key=repr,
    )
    return {"accounts": accounts, "events": events, "people": people, "changes": changes}


def fake_ids():
    """A stand-in for reserve_ids: ids from a counter per model, no database."""
    counters: dict[type, count] = {}

    def reserve(model, n):
        counter = counters.setdefault(model, count(1))
        return [next(counter) for _ in range(n)]

    return reserve


def coverage() -> list[demo.RepCoverage]:
    return [
        demo.RepCoverage(
            rep_id=number,
            user_id=100 + number,
            countries=countries,
            tiers=tiers,
            industries=industries,
            capacity=60,
        )
        for number, (countries, tiers, industries) in enumerate(demo.REP_TERRITORIES, start=1)
    ]


@pytest.mark.django_db
def test_seed_inserts_exactly_the_requested_accounts_and_events():
    lines = seed()

    assert Account.objects.count() == 40
    assert Event.objects.count() == 2000
    last_line = r"accounts=40 events=2000 seconds=\d+\.\d\d events_per_s=\d+"
    assert re.fullmatch(last_line, lines[-1]), lines


@pytest.mark.django_db
def test_seed_defaults_to_sixty_events_per_account():
    out = StringIO()
    call_command("seed_demo", "--accounts", "10", "--anchor", "2026-01-15", stdout=out)

    assert Event.objects.count() == 600
    assert out.getvalue().splitlines()[-1].startswith("accounts=10 events=600 ")


@pytest.mark.django_db
def test_same_seed_generates_identical_rows():
    card = demo.scorecard_to_follow()

    def rows(seed):
        chunks = demo.generate_demo(
            accounts=60,
            days=60,
            events=3000,
            seed=seed,
            anchor=ANCHOR,
            reps=coverage(),
            reserve=fake_ids(),
            card=card,
            chunk_size=25,
        )
        return [
            (chunk.accounts, chunk.people, chunk.events, chunk.status_changes) for chunk in chunks
        ]

    first = rows(7)

    assert first == rows(7)
    assert first != rows(8)


@pytest.mark.django_db
def test_same_seed_into_a_cleared_database_gives_identical_data():
    seed("--seed", "3")
    first = snapshot()
    Account.objects.all().delete()

    seed("--seed", "3")

    assert snapshot() == first


@pytest.mark.django_db
def test_if_empty_skips_a_database_with_accounts():
    Account.objects.create(name="Existing LLP")

    lines = seed("--if-empty")

    assert Account.objects.count() == 1
    assert not Event.objects.exists()
    assert "did nothing" in lines[-1]


@pytest.mark.django_db
def test_if_empty_seeds_an_empty_database():
    seed("--if-empty")

    assert Account.objects.count() == 40


@pytest.mark.django_db
def test_every_event_lies_between_signup_and_anchor():
    seed()

    assert Event.objects.count() == 2000
    assert not Event.objects.filter(occurred_at__lt=F("account__signed_up_at")).exists()
    assert not Event.objects.filter(occurred_at__gt=ANCHOR).exists()
    assert not Event.objects.filter(received_at__lt=F("occurred_at")).exists()


@pytest.mark.django_db
def test_last_event_at_is_the_latest_event_time():
    seed()

    accounts = Account.objects.annotate(latest=Max("events__occurred_at"))

    assert all(account.last_event_at == account.latest for account in accounts)


@pytest.mark.django_db
def test_people_were_first_and_last_seen_at_their_own_events():
    seed()

    people = Person.objects.annotate(
        earliest=Min("events__occurred_at"), latest=Max("events__occurred_at")
    )

    assert people.exists()
    for person in people:
        assert (person.first_seen_at, person.last_seen_at) == (person.earliest, person.latest)
        assert person.email.endswith("@" + person.account.domain)


@pytest.mark.django_db
def test_lead_histories_are_ordered_and_end_in_the_accounts_status():
    seed()

    with_history = Account.objects.filter(status_changes__isnull=False).distinct()
    assert with_history.exclude(status=LeadStatus.SIGNED_UP).exists()
    for account in with_history.select_related("owner"):
        changes = list(account.status_changes.order_by("changed_at"))
        assert [change.from_status for change in changes] == [
            LeadStatus.SIGNED_UP,
            *(change.to_status for change in changes[:-1]),
        ]
        assert changes[0].to_status == LeadStatus.PQL
        assert changes[-1].to_status == account.status
        times = [account.signed_up_at, *(change.changed_at for change in changes), ANCHOR]
        assert times == sorted(times)
        assert len(set(times)) == len(times)
        worked = [change for change in changes if change.cause == "user"]
        for change in worked:
            assert change.changed_by_id == account.owner.user_id
        assert (account.plan == Plan.PAID) == (account.status == LeadStatus.CONVERTED)
        if account.owner is not None:
            assigned = next(c for c in changes if c.to_status == LeadStatus.ASSIGNED)
            assert account.assigned_at == assigned.changed_at
            assert assigned.owner_id == account.owner_id


@pytest.mark.django_db
def test_a_lead_reaches_an_outcome_only_through_assignment_and_contact():
    seed()

    for account in Account.objects.exclude(status=LeadStatus.SIGNED_UP):
        path = list(account.status_changes.order_by("changed_at").values_list("to_status", flat=True))
        worked = path[path.index(LeadStatus.PQL) :] if LeadStatus.ASSIGNED in path else []
        if worked:
            assert worked[:2] == [LeadStatus.PQL, LeadStatus.ASSIGNED]
            assert worked[2:3] in ([], [LeadStatus.CONTACTED])
        else:
            assert account.status == LeadStatus.PQL
            assert account.owner_id is None


@pytest.mark.django_db
def test_accounts_that_never_qualified_have_no_history():
    seed()

    idle = Account.objects.filter(status=LeadStatus.SIGNED_UP)

    assert idle.exists()
    assert not idle.exclude(owner=None).exists()
    never = idle.exclude(status_changes__to_status=LeadStatus.PQL)
    assert never.exists()
    assert not StatusChange.objects.filter(account__in=never).exists()


@pytest.mark.django_db
def test_seed_creates_reps_in_the_sales_reps_group_and_reuses_them():
    seed("--reps", "5")
    seed("--reps", "5")

    reps = SalesRep.objects.select_related("user")
    assert reps.count() == 5
    group = Group.objects.get(name=SALES_REPS)
    for rep in reps:
        assert group in rep.user.groups.all()
        assert not rep.user.has_usable_password()
        assert 30 <= rep.capacity <= 80
        assert re.fullmatch(r"[a-z]+\.[a-z]+\d*", rep.user.username)


@pytest.mark.django_db
def test_seeding_twice_adds_rows_without_collisions():
    seed()
    seed()

    assert Account.objects.count() == 80
    assert Event.objects.count() == 4000
    assert Account.objects.values("external_id").distinct().count() == 80
    assert Person.objects.values("external_id").distinct().count() == Person.objects.count()


@pytest.mark.django_db
def test_a_failed_seed_leaves_nothing(monkeypatch):
    def fail_on_events(model, columns, rows):
        if model is Event:
            raise RuntimeError("disk full")
        return original(model, columns, rows)

    original = seeding.insert_rows
    monkeypatch.setattr(seeding, "insert_rows", fail_on_events)

    with pytest.raises(RuntimeError):
        seed()

    assert not Account.objects.exists()
    assert not Person.objects.exists()
    assert not SalesRep.objects.exists()


@pytest.mark.django_db
def test_reserved_ids_are_never_handed_out_twice():
    first = reserve_ids(Account, 3)
    second = reserve_ids(Account, 2)
    created = Account.objects.create(name="Created later")

    assert len(set(first + second + [created.pk])) == 6


def test_events_split_exactly_in_proportion_to_weights():
    assert demo.split_events(weights=[1, 1, 1], total=10) == [4, 3, 3]
    assert demo.split_events(weights=[0.5, 4, 18, 45], total=1000) == [7, 59, 267, 667]
    assert sum(demo.split_events(weights=[0.3, 1.7, 2.2], total=12345)) == 12345
    assert demo.split_events(weights=[], total=50) == []


@pytest.mark.django_db
def test_events_carry_small_property_dicts_per_name():
    seed()

    expected_keys = {
        "message_sent": {"channel"},
        "hour_logged": {"hours", "billable"},
        "file_uploaded": {"kind"},
        "invite_sent": {"role"},
        "login": {"method"},
    }
    for name, keys in expected_keys.items():
        properties = Event.objects.filter(name=name).values_list("properties", flat=True)
        assert properties, name
        assert all(set(props) == keys for props in properties), name
    assert set(Event.objects.values_list("source", flat=True)) == {"demo"}
