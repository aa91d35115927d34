"""Rescoring: statuses follow the definition, human outcomes stay, results
are never overwritten by older ones, and one account scores as all do."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from leads.models import (
    Account,
    LeadStatus,
    MessageKind,
    OutboxMessage,
    RoutingRule,
    StatusCause,
    StatusChange,
    Team,
)
from leads.services import change_status
from scoring import facts, rescoring
from scoring.compiled import sql_of
from scoring.engine import Result
from scoring.facts import count_query, counts_of_listed, gather_facts
from scoring.models import AccountScore, Criterion, Definition
from scoring.rescoring import UPSERT_BATCH, encode, rescore_accounts, rescore_all, write_results
from scoring.scorecards import scorecard_for
from scoring.selectors import explained_score
from scoring.starter import ensure_starter_definition
from tests.conftest import run_concurrently
from tests.factories import AccountFactory, EventFactory, RepFactory

pytestmark = pytest.mark.django_db



def test_a_qualifying_account_becomes_a_pql_with_the_criteria_as_cause(ten_logins, account, make_event):
    for _ in range(10):
        make_event("login")

    outcome = rescore_accounts([account.pk])

    account.refresh_from_db()
    assert account.status == LeadStatus.PQL
    change = account.status_changes.get()
    assert (change.from_status, change.to_status, change.cause) == ("signed_up", "pql", "scoring")
    assert change.reason == "Qualified: At once: Logged in 10 times"
    assert change.details["qualified_by"] == ["At once: Logged in 10 times"]
    assert (outcome.scored, outcome.changed, outcome.statuses_changed) == (1, 1, 1)
    score = AccountScore.objects.get(account=account)
    assert score.triggered
    assert explained_score(score)["reasons"] == ["Logged in 10 times"]


def test_an_account_that_stops_qualifying_goes_back_to_signed_up(ten_logins, account, make_event):
    for _ in range(10):
        make_event("login", at=timezone.now() - timedelta(days=3))
    rescore_all()
    Criterion.objects.update(window="last_days", window_days=1)

    rescore_all()

    account.refresh_from_db()
    assert account.status == LeadStatus.SIGNED_UP
    assert list(account.status_changes.order_by("id").values_list("to_status", flat=True)) == [
        "pql",
        "signed_up",
    ]


@pytest.mark.parametrize("outcome", ["assigned", "contacted", "converted", "disqualified"])
def test_scoring_never_overrides_what_a_rep_or_routing_decided(ten_logins, account, make_event, outcome):
    change_status(account_id=account.pk, to_status=outcome, cause=StatusCause.USER)
    for _ in range(10):
        make_event("login")

    rescore_all()

    account.refresh_from_db()
    assert account.status == outcome
    assert account.status_changes.count() == 1
    assert AccountScore.objects.get(account=account).qualifies


def test_a_second_rescore_with_nothing_new_changes_nothing(ten_logins, account, make_event):
    for _ in range(10):
        make_event("login")
    rescore_all()

    run = rescore_all()

    assert (run.accounts_scored, run.results_changed, run.statuses_changed) == (1, 0, 0)
    assert StatusChange.objects.count() == 1


def test_a_result_read_earlier_never_overwrites_a_newer_one(ten_logins, account, make_event):
    for _ in range(10):
        make_event("login")
    rescore_accounts([account.pk])
    stored = AccountScore.objects.get(account=account)

    stale = Result(account.pk, 0, None, "small", False, False, {"stale": True})
    applied = write_results(
        [encode(stale, ten_logins.pk)],
        definition_id=ten_logins.pk,
        computed_at=stored.computed_at - timedelta(seconds=1),
    )

    assert applied == set()
    assert AccountScore.objects.get(account=account).qualifies


@pytest.mark.postgres
def test_results_written_in_bulk_are_stored_exactly(ten_logins):
    """Many results go through COPY's text format, built by hand: values
    COPY or JSON escape must come back as they were."""
    accounts = Account.objects.bulk_create(Account(name=f"Account {n}") for n in range(UPSERT_BATCH + 1))
    observed = 'C:\\share "quoted"\ttab\nline é ✓ \\N'
    results = [
        Result(
            account.pk, n - 500, None if n % 2 else n % 100, ("small", "mid", "large")[n % 3], n % 5 == 0,
            n % 7 == 0, {"gates": True, "criteria": [[1, n % 5 == 0, observed, 5]], "milestones": [n]},
        )
        for n, account in enumerate(accounts)
    ]

    applied = write_results(
        [encode(result, ten_logins.pk) for result in results],
        definition_id=ten_logins.pk,
        computed_at=timezone.now(),
    )

    assert applied == {account.pk for account in accounts}
    stored = {score.account_id: score for score in AccountScore.objects.filter(account__in=accounts)}
    columns = ["score", "activation", "tier", "qualifies", "triggered", "explanation", "priority"]
    for result in results:
        assert [getattr(stored[result.account_id], column) for column in columns] == [
            getattr(result, column) for column in columns
        ]
        assert stored[result.account_id].digest == encode(result, ten_logins.pk).digest


@pytest.mark.parametrize("count", [1, UPSERT_BATCH + 1], ids=["a few", "in bulk"])
def test_no_result_is_kept_for_an_account_deleted_since_its_facts_were_read(ten_logins, count):
    accounts = Account.objects.bulk_create(Account(name=f"Account {n}") for n in range(count))
    results = [Result(account.pk, 1, None, "small", False, False, {}) for account in accounts]
    gone = accounts[0].pk
    Account.objects.filter(pk=gone).delete()

    applied = write_results(
        [encode(result, ten_logins.pk) for result in results],
        definition_id=ten_logins.pk,
        computed_at=timezone.now(),
    )

    assert applied == {account.pk for account in accounts[1:]}
    assert not AccountScore.objects.filter(account_id=gone).exists()


def test_without_an_active_definition_nothing_is_scored(account):
    assert rescore_accounts([account.pk]).scored == 0
    assert rescore_all().accounts_scored == 0


def test_rescoring_one_account_takes_a_constant_number_of_queries(
    ten_logins, book, django_assert_num_queries
):
    ensure_starter_definition()
    Definition.objects.filter(name="Ten logins").update(is_active=False)
    Definition.objects.filter(name__startswith="Starter").update(is_active=True)
    busiest = max(Account.objects.all(), key=lambda a: a.events.count())
    # PostgreSQL keys the definition (before and after reading it, three
    # queries) and then reads its key alone; SQLite reads it every time.
    keyed = connection.vendor == "postgresql"
    with django_assert_num_queries(11 if keyed else 9):
        rescore_accounts([busiest.pk])
    # No result changed since: nothing to write either.
    with django_assert_num_queries(6 if keyed else 8):
        rescore_accounts([busiest.pk])


@pytest.mark.parametrize("per_rescore", [1, 7], ids=["one account", "a few accounts"])
def test_some_accounts_at_a_time_agree_with_all_at_once(book, per_rescore):
    """The starter definition's windows read each account's own dates: a
    rescore of a few accounts joins each event to its own account."""
    ensure_starter_definition()
    rescore_all()
    columns = ["account_id", "score", "activation", "tier", "qualifies", "triggered", "explanation"]
    all_at_once = list(AccountScore.objects.order_by("account_id").values_list(*columns))
    statuses = list(Account.objects.order_by("pk").values_list("pk", "status"))
    assert any(row[4] for row in all_at_once), "the seeded book should have PQLs"

    AccountScore.objects.all().delete()
    ids = list(Account.objects.values_list("pk", flat=True))
    for start in range(0, len(ids), per_rescore):
        rescore_accounts(ids[start : start + per_rescore])

    assert list(AccountScore.objects.order_by("account_id").values_list(*columns)) == all_at_once
    assert list(Account.objects.order_by("pk").values_list("pk", "status")) == statuses


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_rescores_record_a_transition_once(ten_logins, account, make_event):
    for _ in range(10):
        make_event("login")

    run_concurrently(lambda: rescore_accounts([account.pk]), times=3)

    assert Account.objects.get(pk=account.pk).status == LeadStatus.PQL
    assert StatusChange.objects.filter(account=account).count() == 1
    assert AccountScore.objects.filter(account=account).count() == 1


def test_a_stale_job_cannot_move_a_status_against_the_newest_result(ten_logins, account, make_event):
    from scoring.engine import AccountFacts, Measure
    from scoring.facts import RescoreInput
    from scoring.rescoring import apply_chunk
    from scoring.scorecards import active_scorecard

    card = active_scorecard()
    rescore_accounts([account.pk])  # the newest result: 0 logins, not qualified
    newest = AccountScore.objects.get(account=account)
    stale_facts = AccountFacts(
        account_id=account.pk, attributes={}, counts={Measure(event_name="login"): 10}
    )
    book = RescoreInput(
        facts=[stale_facts], statuses={account.pk: "signed_up"}, digests={account.pk: newest.digest}
    )

    outcome = apply_chunk(card, [stale_facts], book, now=newest.computed_at - timedelta(minutes=1))

    assert (outcome.changed, outcome.statuses_changed) == (0, 0)
    assert Account.objects.get(pk=account.pk).status == LeadStatus.SIGNED_UP
    assert not AccountScore.objects.get(account=account).qualifies


def test_counting_a_few_accounts_joins_only_those_accounts():
    """An "after signup" window joins each event to its account; for a few
    accounts the join is narrowed to them, else PostgreSQL reads every
    account (a hash join over the whole book) to count a handful's events."""
    card = scorecard_for(ensure_starter_definition())
    ids = [AccountFactory().pk, AccountFactory().pk]
    _, rows = count_query(card.measures, account_ids=ids, now=timezone.now())
    sql, _ = sql_of(rows)
    joined = sql[sql.index(" JOIN ") : sql.index(" WHERE ")]
    assert '"leads_account"' in joined
    # The ids restrict the joined accounts as well as the events.
    assert " AND " in joined and ("= ANY(" in joined or " IN (" in joined)


@pytest.mark.postgres
def test_facts_of_listed_accounts_compiled_once_equal_the_orms_for_any_list_and_clock(
    book, monkeypatch
):
    """The queries for a list of accounts are compiled once and run again
    with other accounts and another clock (a "last D days" window moved on)."""
    card = scorecard_for(ensure_starter_definition())
    ids = list(book.values_list("pk", flat=True))
    now = timezone.now()
    runs = [
        (ids[:7], now),
        (ids[5:30], now + timedelta(days=9)),
        (ids[-3:], now - timedelta(days=20)),
    ]
    compiled_once = [gather_facts(card, now=at, account_ids=listed) for listed, at in runs]
    assert counts_of_listed.cache_info().currsize >= 1

    monkeypatch.setattr(facts, "lists_compile_once", lambda: False)
    compiled_each_time = [gather_facts(card, now=at, account_ids=listed) for listed, at in runs]
    assert compiled_once == compiled_each_time
    assert all(read.facts for read in compiled_once)
    assert any(account.counts for read in compiled_once for account in read.facts)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_full_rescore_outside_a_transaction_counts_events_on_a_second_connection(
    ten_logins, account, make_event
):
    """Committed data, so the parallel count path runs; it must agree."""
    for _ in range(10):
        make_event("login")

    run = rescore_all()

    assert run.accounts_scored == 1
    assert Account.objects.get(pk=account.pk).status == LeadStatus.PQL


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_full_rescore_in_many_chunks_stored_at_once_moves_and_routes_each_account_once(
    ten_logins, monkeypatch
):
    """Two writers store chunks at once: every qualifying account gets one
    PQL row and one outbox message, and routing stays within the reps' room."""
    monkeypatch.setattr(rescoring, "CHUNK_SIZE", 3)
    accounts = AccountFactory.create_batch(14)
    for account in accounts[:11]:
        EventFactory.create_batch(10, account=account, name="login")
    rep = RepFactory(capacity=4)
    team = Team.objects.create(name="Sales", sla_hours=24)
    team.members.set([rep])
    RoutingRule.objects.create(position=1, name="Everyone", team=team)

    run = rescore_all()

    assert run.accounts_scored == 14
    qualified = {account.pk for account in accounts[:11]}
    to_pql = StatusChange.objects.filter(to_status=LeadStatus.PQL, from_status=LeadStatus.SIGNED_UP)
    assert sorted(to_pql.values_list("account_id", flat=True)) == sorted(qualified)
    assigned = set(Account.objects.filter(owner=rep).values_list("pk", flat=True))
    assert len(assigned) == 4 and assigned <= qualified
    assert set(Account.objects.filter(status=LeadStatus.ASSIGNED).values_list("pk", flat=True)) == assigned
    # The other seven wait in the unassigned queue, each with the reason in its history.
    waiting = qualified - assigned
    assert set(Account.objects.filter(status=LeadStatus.PQL, owner=None).values_list("pk", flat=True)) == waiting
    left = StatusChange.objects.filter(from_status=LeadStatus.PQL, to_status=LeadStatus.PQL)
    assert sorted(left.values_list("account_id", flat=True)) == sorted(waiting)
    kinds = OutboxMessage.objects.values_list("kind", flat=True)
    assert sorted(kinds) == sorted(
        [MessageKind.QUALIFIED] * 11 + [MessageKind.ASSIGNED] * 4 + [MessageKind.UNASSIGNED_TEAM_FULL] * 7
    )
    assert set(Account.objects.exclude(pk__in=qualified).values_list("status", flat=True)) == {"signed_up"}
