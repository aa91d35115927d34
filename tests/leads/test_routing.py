"""Routing: new PQLs go to the right team by the first matching rule, to its
rep with the fewest open leads, never over capacity, recorded in the history;
a rep made inactive hands their open leads on; managers reassign by hand."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leads.groups import SALES_REPS
from leads.models import Account, LeadStatus, RoutingRule, SalesRep, StatusChange, Team
from leads.routing import (
    LeadToRoute,
    RepLoad,
    RuleSpec,
    assign_new_pqls,
    choose_reps,
    deactivate_rep,
    reassign_by_hand,
)
from scoring.rescoring import rescore_accounts
from tests.admin.test_admin import admin_form_data
from tests.conftest import run_concurrently
from tests.factories import EventFactory

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# Planning, on plain values.


def lead(account_id=1, *, country="US", industry="legal", tier="small"):
    return LeadToRoute(account_id=account_id, country=country, industry=industry, tier=tier)


def rule(rule_id=1, name="Anywhere", *, countries=(), tiers=(), industries=(), team=10,
         team_name="Sales", members=(1,), sla_hours=24):  # fmt: skip
    return RuleSpec(
        id=rule_id,
        name=name,
        countries=countries,
        tiers=tiers,
        industries=industries,
        team_id=team,
        team_name=team_name,
        member_rep_ids=members,
        sla_hours=sla_hours,
    )


def load(rep_id, *, open_leads=0, capacity=10, active=True, last=None):
    return RepLoad(
        rep_id=rep_id, open_leads=open_leads, capacity=capacity, active=active, last_assigned_at=last
    )


def reps_of(plan):
    return {account_id: assignment.rep_id for account_id, assignment in plan.items()}


def test_the_first_matching_rule_wins():
    rules = [
        rule(1, "EMEA", countries=["GB", "DE"], team_name="EMEA", members=[1]),
        rule(2, "Legal", industries=["legal"], team_name="Legal", members=[2]),
        rule(3, "Anywhere", members=[3]),
    ]
    loads = [load(1), load(2), load(3)]

    plan = choose_reps(
        [lead(1, country="DE"), lead(2, country="US"), lead(3, industry="retail")],
        rules,
        loads,
        now=NOW,
    )

    assert reps_of(plan) == {1: 1, 2: 2, 3: 3}
    assert plan[1].reason == "Routed by rule 'EMEA' to team 'EMEA'"
    assert plan[2].reason == "Routed by rule 'Legal' to team 'Legal'"


def test_empty_lists_match_anything_and_every_list_must_hold():
    mid_legal_us = rule(1, "US mid legal", countries=["us"], tiers=["mid"], industries=["Legal"])
    anything = rule(2, "Anything", members=[2])
    loads = [load(1), load(2)]

    plan = choose_reps(
        [
            lead(1, country="us", tier="mid", industry=" LEGAL "),
            lead(2, country="US", tier="large", industry="legal"),
            lead(3, country="", tier="small", industry=""),
        ],
        [mid_legal_us, anything],
        loads,
        now=NOW,
    )

    assert reps_of(plan) == {1: 1, 2: 2, 3: 2}


def test_no_matching_rule_leaves_the_lead_in_the_unassigned_queue():
    plan = choose_reps(
        [lead(1, country="BR", industry="retail")],
        [rule(1, "EMEA", countries=["GB"])],
        [load(1)],
        now=NOW,
    )

    assert plan[1].rep_id is None
    assert plan[1].reason == "No routing rule matches (country=BR, tier=small, industry=retail)"


def test_a_full_team_sends_the_lead_to_the_unassigned_queue_not_over_capacity():
    rules = [rule(1, "EMEA mid-size", team_name="EMEA", members=[1, 2])]
    loads = [load(1, open_leads=5, capacity=5), load(2, open_leads=9, capacity=3)]

    plan = choose_reps([lead(1)], rules, loads, now=NOW)

    assert plan[1].rep_id is None
    assert plan[1].reason == "Team 'EMEA' is at capacity (rule 'EMEA mid-size')"


def test_a_team_without_active_reps_says_so():
    plan = choose_reps(
        [lead(1)], [rule(members=[1], team_name="APAC")], [load(1, active=False)], now=NOW
    )

    assert plan[1].rep_id is None
    assert plan[1].reason.startswith("Team 'APAC' has no active reps")


def test_the_rep_with_fewest_open_leads_gets_the_lead():
    plan = choose_reps(
        [lead(1)],
        [rule(members=[1, 2, 3])],
        [load(1, open_leads=4), load(2, open_leads=2), load(3, open_leads=3)],
        now=NOW,
    )

    assert reps_of(plan) == {1: 2}


def test_ties_go_to_the_rep_who_waited_longest_never_assigned_first_then_lowest_id():
    hour = timedelta(hours=1)
    members = [rule(members=[1, 2, 3, 4])]

    waited = choose_reps(
        [lead(1)],
        members,
        [load(1, last=NOW - hour), load(2, last=NOW - 3 * hour), load(3, last=NOW - 2 * hour)],
        now=NOW,
    )
    never = choose_reps(
        [lead(1)], members, [load(1, last=NOW - 3 * hour), load(4), load(3)], now=NOW
    )

    assert reps_of(waited) == {1: 2}
    assert reps_of(never) == {1: 3}


def test_a_batch_spreads_round_robin_and_never_exceeds_capacity():
    rules = [rule(members=[1, 2, 3])]
    loads = [load(1, capacity=2), load(2, capacity=4), load(3, open_leads=1, capacity=3)]

    plan = choose_reps([lead(i) for i in range(1, 11)], rules, loads, now=NOW)

    given = [assignment.rep_id for assignment in plan.values()]
    assert given == [1, 2, 3, 1, 2, 3, 2, 2, None, None]
    assert loads[0].open_leads == 0, "the caller's loads are left as they were"


def test_inactive_reps_get_nothing():
    plan = choose_reps(
        [lead(1), lead(2)],
        [rule(members=[1, 2])],
        [load(1, active=False), load(2, open_leads=8)],
        now=NOW,
    )

    assert reps_of(plan) == {1: 2, 2: 2}


def test_the_sla_is_the_teams():
    plan = choose_reps([lead(1)], [rule(sla_hours=4)], [load(1)], now=NOW)

    assert plan[1].sla_due_at == NOW + timedelta(hours=4)


# Routing in the database.


@pytest.fixture
def make_rep(django_user_model):
    def make(username, *, capacity=10, is_active=True):
        user = django_user_model.objects.create_user(username, first_name=username.title())
        # get_or_create: a transactional test before this one flushed the migrated groups.
        user.groups.add(Group.objects.get_or_create(name=SALES_REPS)[0])
        return SalesRep.objects.create(user=user, capacity=capacity, is_active=is_active)

    return make


@pytest.fixture
def make_team():
    def make(name, *reps, sla_hours=24, position=10, **matching):
        team = Team.objects.create(name=name, sla_hours=sla_hours)
        team.members.set(reps)
        RoutingRule.objects.create(position=position, name=name, team=team, **matching)
        return team

    return make


def pql(name="Co", *, country="US", industry="legal", owner=None, status=LeadStatus.PQL):
    return Account.objects.create(
        name=name, country=country, industry=industry, status=status, owner=owner
    )


def pqls(n, *, status=LeadStatus.PQL, **fields):
    return Account.objects.bulk_create(
        Account(name=f"Co {i}", country="US", industry="legal", status=status, **fields)
        for i in range(n)
    )


def assert_sla(account, hours):
    """Due `hours` after the assignment (planned a moment before it was stored)."""
    due = account.assigned_at + timedelta(hours=hours)
    assert abs(account.sla_due_at - due) < timedelta(seconds=5)


@pytest.mark.django_db
def test_a_routed_pql_is_assigned_with_the_rule_in_its_history(make_rep, make_team):
    ava = make_rep("ava")
    make_team("Legal NA", ava, sla_hours=8, countries=["US", "CA"], industries=["legal"])
    account = pql()

    assert assign_new_pqls([account.pk]) == [account.pk]

    account.refresh_from_db()
    assert (account.status, account.owner) == (LeadStatus.ASSIGNED, ava)
    assert_sla(account, 8)
    change = account.status_changes.get()
    assert (change.from_status, change.to_status, change.cause, change.owner) == (
        "pql", "assigned", "routing", ava,
    )  # fmt: skip
    assert change.reason == "Routed by rule 'Legal NA' to team 'Legal NA'"


@pytest.mark.django_db
def test_inactive_rules_are_skipped_and_rules_go_by_position(make_rep, make_team):
    ava, ben, cal = make_rep("ava"), make_rep("ben"), make_rep("cal")
    make_team("Everyone", ava, position=30)
    make_team("Legal", ben, position=20, industries=["legal"])
    make_team("Paused", cal, position=10)
    RoutingRule.objects.filter(name="Paused").update(is_active=False)
    account = pql()

    assign_new_pqls([account.pk])

    assert Account.objects.get(pk=account.pk).owner == ben


@pytest.mark.django_db
def test_reps_who_cannot_sign_in_get_no_leads(make_rep, make_team):
    ava, ben = make_rep("ava"), make_rep("ben")
    make_team("Everyone", ava, ben)
    type(ava.user).objects.filter(pk=ava.user_id).update(is_active=False)
    accounts = pqls(2)

    assign_new_pqls([account.pk for account in accounts])

    assert set(Account.objects.values_list("owner", flat=True)) == {ben.pk}


@pytest.mark.django_db
def test_the_tier_comes_from_the_accounts_score(make_rep, make_team):
    from scoring.models import AccountScore

    ava, ben = make_rep("ava"), make_rep("ben")
    make_team("Large", ava, position=10, tiers=["large"])
    make_team("Small", ben, position=20, tiers=["small"])
    large, unscored = pql("Large Co"), pql("Unscored Co")
    AccountScore.objects.create(account=large, tier="large", digest="x", computed_at=timezone.now())

    assign_new_pqls([large.pk, unscored.pk])

    assert Account.objects.get(pk=large.pk).owner == ava
    assert Account.objects.get(pk=unscored.pk).owner == ben


@pytest.mark.django_db
def test_without_a_matching_rule_the_pql_stays_unassigned(make_rep, make_team):
    make_team("EMEA", make_rep("ava"), countries=["GB"])
    account = pql(country="BR")

    assert assign_new_pqls([account.pk]) == []

    account.refresh_from_db()
    assert (account.status, account.owner) == (LeadStatus.PQL, None)
    [why] = account.status_changes.all()
    assert (why.from_status, why.to_status, why.cause) == ("pql", "pql", "routing")
    assert why.reason.startswith("No routing rule matches (country=BR")


@pytest.mark.django_db
def test_only_unowned_pqls_are_routed(make_rep, make_team, rep):
    make_team("Everyone", make_rep("ben"))
    signed_up = pql(status=LeadStatus.SIGNED_UP)
    held = pql(owner=rep, status=LeadStatus.ASSIGNED)

    assert assign_new_pqls([signed_up.pk, held.pk]) == []
    assert Account.objects.get(pk=held.pk).owner == rep


@pytest.mark.django_db
def test_routing_counts_open_leads_already_held_and_never_exceeds_capacity(make_rep, make_team):
    ava, ben = make_rep("ava", capacity=3), make_rep("ben", capacity=2)
    make_team("Everyone", ava, ben)
    pqls(2, owner=ava, status=LeadStatus.CONTACTED)
    pqls(5, owner=ben, status=LeadStatus.CONVERTED)  # closed leads take no capacity
    new = pqls(6)

    assigned = assign_new_pqls([account.pk for account in new])

    assert len(assigned) == 3
    assert Account.objects.filter(owner=ava).open_leads().count() == 3
    assert Account.objects.filter(owner=ben).open_leads().count() == 2
    assert Account.objects.filter(status=LeadStatus.PQL, owner__isnull=True).count() == 3


@pytest.mark.django_db
def test_the_rep_assigned_longest_ago_gets_the_next_lead(make_rep, make_team):
    ava, ben = make_rep("ava"), make_rep("ben")
    make_team("Everyone", ava, ben)
    earlier, later = pqls(2, status=LeadStatus.CONVERTED)
    Account.objects.filter(pk=earlier.pk).update(owner=ben, assigned_at=NOW - timedelta(days=2))
    Account.objects.filter(pk=later.pk).update(owner=ava, assigned_at=NOW - timedelta(days=1))
    account = pql()

    assign_new_pqls([account.pk])

    assert Account.objects.get(pk=account.pk).owner == ben


@pytest.mark.django_db
def test_routing_takes_a_constant_number_of_queries(make_rep, make_team, django_assert_max_num_queries):
    make_team("Everyone", *(make_rep(f"rep{i}", capacity=100) for i in range(5)))
    make_team("Legal", make_rep("lee"), position=5, industries=["legal"], countries=["CA"])
    one, *many = pqls(31)

    with CaptureQueriesContext(connection) as for_one:
        assert len(assign_new_pqls([one.pk])) == 1
    with django_assert_max_num_queries(len(for_one.captured_queries)):
        assert len(assign_new_pqls([account.pk for account in many])) == 30


@pytest.mark.django_db
def test_a_qualifying_account_is_routed_by_the_same_rescore(ten_logins, make_rep, make_team, account, make_event):
    ava, ben = make_rep("ava"), make_rep("ben")
    make_team("EMEA", ava, position=10, countries=["GB", "DE"])
    make_team("North America", ben, position=20, countries=["US", "CA"], sla_hours=4)
    for _ in range(10):
        make_event("login")

    outcome = rescore_accounts([account.pk])

    account.refresh_from_db()
    assert (account.status, account.owner) == (LeadStatus.ASSIGNED, ben)
    assert outcome.statuses_changed == 2
    history = list(account.status_changes.order_by("id").values_list("to_status", "cause", "owner"))
    assert history == [("pql", "scoring", None), ("assigned", "routing", ben.pk)]
    assert_sla(account, 4)


@pytest.mark.django_db
def test_the_demo_book_routes_new_pqls_by_territory(book):
    from leads.demo import ensure_routing
    from scoring.rescoring import rescore_all
    from scoring.starter import ensure_starter_definition

    assert list(RoutingRule.objects.values_list("name", "countries")) == [
        ("North America", ["US", "CA"]),
        ("EMEA", ["GB", "DE", "FR", "NL", "ES", "SE"]),
    ]
    assert ensure_routing() == 0, "rules exist already"
    ensure_starter_definition()
    rescore_all()
    seeded = StatusChange.objects.order_by("-id").values_list("id", flat=True).first()
    # The seeded book is where the starter definition puts it: new PQLs come
    # from a hand raised now, in each territory.
    raising = [
        Account.objects.filter(status=LeadStatus.SIGNED_UP, plan__in=["trial", "free"], country__in=countries)
        .order_by("pk")
        .first()
        for countries in (["US", "CA"], ["GB", "DE", "FR", "NL", "ES", "SE"])
    ]
    for account in raising:
        EventFactory(account=account, name="contact_sales_clicked")

    rescore_all()

    routed = StatusChange.objects.filter(cause="routing", id__gt=seeded).select_related("account")
    assert {change.account for change in routed} == set(raising)
    teams = {rule.team.name: rule for rule in RoutingRule.objects.select_related("team")}
    for change in routed:
        (name,) = [name for name, rule in teams.items() if change.account.country in rule.countries]
        assert change.reason == f"Routed by rule '{name}' to team '{name}'"
        assert teams[name].team.members.filter(pk=change.owner_id).exists()


# Deactivation and reassignment.


@pytest.fixture
def held_book(make_rep, make_team):
    """Ava holds a lead in every status; Ben shares her team."""
    ava, ben = make_rep("ava"), make_rep("ben")
    make_team("Everyone", ava, ben, sla_hours=12)
    accounts = {
        status: pql(status, owner=ava, status=status)
        for status in (
            LeadStatus.PQL,
            LeadStatus.ASSIGNED,
            LeadStatus.CONTACTED,
            LeadStatus.CONVERTED,
            LeadStatus.DISQUALIFIED,
        )
    }
    return ava, ben, accounts


def owners(accounts):
    return {
        status: Account.objects.values_list("owner__user__username", "status").get(pk=account.pk)
        for status, account in accounts.items()
    }


@pytest.mark.django_db
def test_deactivating_a_rep_hands_their_open_leads_on_and_leaves_closed_ones(held_book, manager):
    ava, ben, accounts = held_book

    moved = deactivate_rep(ava, changed_by=manager)

    ava.refresh_from_db()
    assert not ava.is_active
    assert len(moved) == 3
    assert owners(accounts) == {
        "pql": ("ben", "assigned"),
        "assigned": ("ben", "assigned"),
        "contacted": ("ben", "contacted"),
        "converted": ("ava", "converted"),
        "disqualified": ("ava", "disqualified"),
    }
    change = accounts["assigned"].status_changes.get()
    assert (change.cause, change.changed_by, change.owner) == ("routing", manager, ben)
    assert change.reason == "Reassigned from Ava: Routed by rule 'Everyone' to team 'Everyone'"


@pytest.mark.django_db
def test_with_nobody_to_take_them_open_leads_go_to_the_unassigned_queue(held_book):
    ava, ben, accounts = held_book
    ben.capacity = 0
    ben.save()

    deactivate_rep(ava)

    assert owners(accounts)["assigned"] == (None, "pql")
    assert owners(accounts)["pql"] == (None, "pql")
    assert accounts["assigned"].status_changes.get().reason == (
        "Reassigned from Ava: Team 'Everyone' is at capacity (rule 'Everyone')"
    )


@pytest.mark.django_db
def test_reassigning_by_hand_records_the_manager_and_the_default_sla(held_book, manager, settings):
    _, ben, accounts = held_book
    settings.DEFAULT_SLA_HOURS = 6

    assert reassign_by_hand([accounts["assigned"].pk], ben, changed_by=manager)

    account = Account.objects.get(pk=accounts["assigned"].pk)
    assert account.owner == ben
    assert_sla(account, 6)
    change = account.status_changes.get()
    assert (change.cause, change.changed_by, change.owner, change.reason) == (
        "user", manager, ben, "Reassigned by morgan",
    )  # fmt: skip


@pytest.mark.django_db
def test_reassigning_by_hand_refuses_a_full_or_inactive_rep_and_closed_leads(held_book, manager, make_rep):
    ava, ben, accounts = held_book
    ben.capacity = 0
    ben.save()

    with pytest.raises(ValueError, match="Ben is at capacity: 0 of 0 open leads"):
        reassign_by_hand([accounts["assigned"].pk], ben, changed_by=manager)
    ben.capacity = 1
    ben.save()
    with pytest.raises(ValueError, match="Ben has room for 1 more open leads, not 2"):
        reassign_by_hand([accounts["assigned"].pk, accounts["pql"].pk], ben, changed_by=manager)
    with pytest.raises(ValueError, match="Cy is inactive"):
        reassign_by_hand([accounts["assigned"].pk], make_rep("cy", is_active=False), changed_by=manager)
    with pytest.raises(ValueError, match="only open leads"):
        reassign_by_hand([accounts["converted"].pk], ava, changed_by=manager)
    assert owners(accounts)["assigned"] == ("ava", "assigned")
    assert not StatusChange.objects.exists()


@pytest.mark.django_db
def test_a_manager_can_send_a_lead_back_to_the_unassigned_queue(held_book, manager):
    _, _, accounts = held_book

    reassign_by_hand([accounts["assigned"].pk], None, changed_by=manager)

    assert owners(accounts)["assigned"] == (None, "pql")


# The admin.


def admin_url(model, view, *args):
    return reverse(f"admin:leads_{model._meta.model_name}_{view}", args=args)


@pytest.mark.django_db
def test_the_admin_action_deactivates_reps_and_reassigns_their_leads(client, manager, held_book):
    ava, _, accounts = held_book
    client.force_login(manager)

    response = client.post(
        admin_url(SalesRep, "changelist"),
        {"action": "deactivate_and_reassign", "_selected_action": [ava.pk]},
        follow=True,
    )

    assert "3 open leads went to other reps, 0 to the unassigned queue" in response.content.decode()
    assert not SalesRep.objects.get(pk=ava.pk).is_active
    assert owners(accounts)["contacted"] == ("ben", "contacted")


@pytest.mark.django_db
def test_unticking_active_on_the_rep_page_reassigns_their_leads(client, manager, held_book):
    ava, _, accounts = held_book
    client.force_login(manager)
    url = admin_url(SalesRep, "change", ava.pk)
    data = admin_form_data(client.get(url))
    del data["is_active"]
    data["capacity"] = 7

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    ava.refresh_from_db()
    assert (ava.is_active, ava.capacity) == (False, 7)
    assert owners(accounts)["assigned"] == ("ben", "assigned")
    assert accounts["assigned"].status_changes.get().changed_by == manager


@pytest.mark.django_db
def test_an_owner_changed_in_the_account_admin_is_recorded(client, manager, held_book):
    _, ben, accounts = held_book
    account = accounts["contacted"]
    client.force_login(manager)
    url = admin_url(Account, "change", account.pk)
    data = admin_form_data(client.get(url))
    data["owner"] = ben.pk

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    account.refresh_from_db()
    assert (account.owner, account.status) == (ben, LeadStatus.CONTACTED)
    change = account.status_changes.get()
    assert (change.cause, change.changed_by, change.owner) == ("user", manager, ben)


@pytest.mark.django_db
def test_the_account_admin_refuses_a_full_rep_with_a_form_error(client, manager, held_book):
    ava, ben, accounts = held_book
    SalesRep.objects.filter(pk=ben.pk).update(capacity=0)
    account = accounts["assigned"]
    client.force_login(manager)
    url = admin_url(Account, "change", account.pk)
    data = admin_form_data(client.get(url))
    data["owner"] = ben.pk

    response = client.post(url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["owner"] == [
        "Ben is at capacity: 0 of 0 open leads."
    ]
    assert Account.objects.get(pk=account.pk).owner == ava
    assert not StatusChange.objects.exists()


@pytest.mark.django_db
def test_routing_rules_are_edited_as_comma_separated_lists(client, manager, make_rep):
    team = Team.objects.create(name="EMEA")
    client.force_login(manager)

    response = client.post(
        admin_url(RoutingRule, "add"),
        {"position": 10, "name": "EMEA legal", "is_active": "on", "countries": "gb, de",
         "tiers": "mid,large", "industries": "legal", "team": team.pk},
    )  # fmt: skip

    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = RoutingRule.objects.get()
    assert (rule.countries, rule.tiers, rule.industries) == (["GB", "DE"], ["mid", "large"], ["legal"])
    listing = client.get(admin_url(RoutingRule, "changelist")).content.decode()
    assert "GB, DE" in listing


@pytest.mark.django_db
def test_the_route_action_routes_selected_unassigned_pqls(client, manager, make_rep, make_team):
    ava = make_rep("ava")
    waiting = pql()
    make_team("Everyone", ava)  # the rule came after the account qualified
    client.force_login(manager)

    client.post(
        admin_url(Account, "changelist"),
        {"action": "route_by_the_rules", "_selected_action": [waiting.pk]},
    )

    assert Account.objects.get(pk=waiting.pk).owner == ava


# Races, on PostgreSQL.


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_accounts_qualifying_at_once_never_exceed_a_reps_capacity(ten_logins, make_rep, make_team, make_event):
    ava = make_rep("ava", capacity=1)
    make_team("Everyone", ava)
    first, second = pql("First", status=LeadStatus.SIGNED_UP), pql("Second", status=LeadStatus.SIGNED_UP)
    for account in (first, second):
        for _ in range(10):
            make_event("login", target=account)

    ids = [first.pk, second.pk]

    run_concurrently(lambda: rescore_accounts([ids.pop()]), times=2)  # one account each

    outcomes = Account.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", "owner")
    assert sorted(outcomes) == [("assigned", ava.pk), ("pql", None)]
    assert StatusChange.objects.filter(to_status="assigned").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_account_routed_twice_at_once_is_assigned_once(make_rep, make_team):
    ava, ben = make_rep("ava"), make_rep("ben")
    make_team("Everyone", ava, ben)
    account = pql()

    results = run_concurrently(lambda: assign_new_pqls([account.pk]), times=2)

    assert sorted(results) == [[], [account.pk]]
    assert StatusChange.objects.filter(account=account).count() == 1
    assert Account.objects.get(pk=account.pk).status == LeadStatus.ASSIGNED


def test_within_a_team_only_reps_who_cover_the_account_get_it():
    from leads.routing import LeadToRoute, RepLoad, RuleSpec, choose_reps

    rule = RuleSpec(
        id=1, name="Everyone", countries=(), tiers=(), industries=(), team_id=1,
        team_name="Sales", member_rep_ids=(1, 2), sla_hours=24,
    )
    generalist = RepLoad(rep_id=1, open_leads=5, capacity=50, active=True, last_assigned_at=None)
    legal = RepLoad(
        rep_id=2, open_leads=0, capacity=50, active=True, last_assigned_at=None, industries=("legal",)
    )
    leads = [
        LeadToRoute(account_id=10, country="US", industry="Legal", tier="small"),
        LeadToRoute(account_id=11, country="US", industry="retail", tier="small"),
    ]

    plan = choose_reps(leads, [rule], [generalist, legal], now=timezone.now())

    assert (plan[10].rep_id, plan[11].rep_id) == (2, 1)


def test_a_team_whose_reps_cover_nothing_of_the_account_says_so():
    from leads.routing import LeadToRoute, RepLoad, RuleSpec, choose_reps

    rule = RuleSpec(
        id=1, name="Legal", countries=(), tiers=(), industries=(), team_id=1,
        team_name="Legal", member_rep_ids=(2,), sla_hours=24,
    )
    legal = RepLoad(
        rep_id=2, open_leads=0, capacity=50, active=True, last_assigned_at=None, countries=("CA",)
    )
    lead = LeadToRoute(account_id=10, country="US", industry="legal", tier="small")

    plan = choose_reps([lead], [rule], [legal], now=timezone.now())

    assert plan[10].rep_id is None
    assert plan[10].reason == "No rep of team 'Legal' covers this account (rule 'Legal')"
