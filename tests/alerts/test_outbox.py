"""The outbox: each change that matters appends one message in the change's
own transaction; a rolled-back change announces nothing; two workers making
the same change announce it once."""

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from leads import outbox
from leads.models import (
    Account,
    DeliveryState,
    LeadStatus,
    MessageKind,
    OutboxBatch,
    OutboxMessage,
    StatusChange,
)
from leads.outbox import Announcement, announce, announce_sla
from leads.routing import assign_new_pqls, reassign_by_hand
from leads.services import record_outcome
from scoring.rescoring import rescore_accounts
from tests.conftest import run_concurrently

pytestmark = pytest.mark.django_db


def kinds(account=None):
    messages = OutboxMessage.objects.order_by("pk")
    if account is not None:
        messages = messages.filter(account=account)
    return [message.kind for message in messages]


def qualify(account, make_event):
    for _ in range(10):
        make_event("login", target=account)
    rescore_accounts([account.pk])


def test_a_qualified_and_routed_account_announces_qualified_then_assigned(
    ten_logins, account, make_event, make_rep, make_team
):
    ava = make_rep("ava")
    make_team("Sales", ava)

    qualify(account, make_event)

    qualified, assigned = OutboxMessage.objects.filter(account=account).order_by("pk")
    assert (qualified.kind, qualified.rep_id) == (MessageKind.QUALIFIED, None)
    assert (assigned.kind, assigned.rep_id) == (MessageKind.ASSIGNED, ava.pk)
    # The CRM hears of both; people only of the assignment.
    assert (qualified.email_state, qualified.webhook_state) == (DeliveryState.SKIPPED, DeliveryState.PENDING)
    assert (assigned.email_state, assigned.slack_state) == (DeliveryState.PENDING, DeliveryState.PENDING)
    assert qualified.status_change.to_status == LeadStatus.PQL
    assert assigned.change["reason"] == "Routed by rule 'Sales rule' to team 'Sales'"
    # Its webhook-id is given when a webhook first wants it (the fan-out).
    assert qualified.message_id is None and qualified.webhook_id == ""


def test_a_change_that_rolls_back_announces_nothing(ten_logins, account, make_event, make_rep, make_team):
    make_team("Sales", make_rep("ava"))
    for _ in range(10):
        make_event("login")

    with pytest.raises(RuntimeError), transaction.atomic():
        rescore_accounts([account.pk])
        assert kinds(account) == ["qualified", "assigned"]
        raise RuntimeError("the job failed after the change")

    assert kinds(account) == []
    assert Account.objects.get(pk=account.pk).status == LeadStatus.SIGNED_UP


def test_the_same_change_offered_twice_is_one_message(account):
    change = Announcement(kind="qualified", account_id=account.pk, version=account.updated_at)

    announce([change])
    announce([change, change])

    assert kinds() == ["qualified"]


def test_outcomes_and_hand_reassignment_are_announced(rep, account, manager, make_rep):
    ben = make_rep("ben")
    Account.objects.filter(pk=account.pk).update(status=LeadStatus.PQL)
    reassign_by_hand([account.pk], rep, changed_by=manager)
    reassign_by_hand([account.pk], ben, changed_by=manager)
    record_outcome(account_id=account.pk, outcome="contacted", changed_by=ben.user)
    reassign_by_hand([account.pk], None, changed_by=manager)

    assert kinds(account) == ["assigned", "reassigned", "contacted", "unassigned"]
    reassigned = OutboxMessage.objects.get(kind="reassigned")
    assert (reassigned.rep_id, reassigned.change["previous_rep_id"]) == (ben.pk, rep.pk)


def test_a_pql_left_unassigned_because_its_team_is_full_says_why(
    ten_logins, account, make_event, make_rep, make_team
):
    ava = make_rep("ava", capacity=0)
    team = make_team("Sales", ava)

    qualify(account, make_event)

    account.refresh_from_db()
    assert (account.status, account.owner) == (LeadStatus.PQL, None)
    why = StatusChange.objects.get(account=account, cause="routing")
    assert why.reason == "Team 'Sales' is at capacity (rule 'Sales rule')"
    assert why.details == {"unassigned": "team_full", "team_id": team.pk}
    message = OutboxMessage.objects.get(account=account, kind=MessageKind.UNASSIGNED_TEAM_FULL)
    assert (message.team_id, message.change["reason"]) == (team.pk, why.reason)
    assert message.email_state == DeliveryState.PENDING  # for the managers


def test_a_pql_no_rule_matches_is_announced_as_unassigned(account, make_rep, make_team):
    make_team("EMEA", make_rep("ava"), countries=["GB"])
    Account.objects.filter(pk=account.pk).update(status=LeadStatus.PQL)

    assign_new_pqls([account.pk])

    assert kinds(account) == ["unassigned"]
    assert OutboxMessage.objects.get().payload["unassigned"] == "no_rule"


def test_routing_a_pql_again_tells_the_managers_again_only_if_it_changed(account, make_rep, make_team):
    make_team("EMEA", make_rep("ava"), countries=["GB"])
    Account.objects.filter(pk=account.pk).update(status=LeadStatus.PQL)

    assign_new_pqls([account.pk])
    assign_new_pqls([account.pk])  # a manager routes it again: nothing new to tell
    assert kinds(account) == ["unassigned"]
    assert StatusChange.objects.filter(account=account, cause="routing").count() == 2  # both tries recorded

    Account.objects.filter(pk=account.pk).update(country="FR", updated_at=timezone.now())
    assign_new_pqls([account.pk])  # the account changed since: the news is new
    assert kinds(account) == ["unassigned", "unassigned"]


def test_with_no_routing_rules_each_new_pql_is_told_to_the_managers_once(ten_logins, make_event):
    accounts = [Account.objects.create(name=f"Co {i}", external_id=f"co-{i}") for i in range(3)]
    for account in accounts:
        for _ in range(10):
            make_event("login", target=account)

    rescore_accounts([account.pk for account in accounts])
    assign_new_pqls([account.pk for account in accounts])  # routing tried again, rules still missing

    unassigned = OutboxMessage.objects.filter(kind=MessageKind.UNASSIGNED).order_by("account_id")
    assert [message.account_id for message in unassigned] == [account.pk for account in accounts]
    assert unassigned[0].payload == {
        "from_status": "pql", "to_status": "pql", "reason": "No routing rules are set up", "unassigned": "no_rules"
    }  # fmt: skip
    assert unassigned[0].email_state == DeliveryState.PENDING  # for the managers
    assert not StatusChange.objects.filter(cause="routing").exists()  # no decision to record


def test_a_keyed_notice_is_for_people():
    with pytest.raises(ValueError, match="for webhooks"):
        outbox.Notice(kind=MessageKind.QUALIFIED, keyed=True)


def test_sla_due_soon_and_passed_are_announced_once_per_assignment(rep, account, manager):
    Account.objects.filter(pk=account.pk).update(status=LeadStatus.PQL)
    reassign_by_hand([account.pk], rep, changed_by=manager)
    OutboxMessage.objects.all().delete()
    now = timezone.now()
    Account.objects.filter(pk=account.pk).update(sla_due_at=now + timedelta(minutes=30))
    window = dict(warning=timedelta(hours=1), lookback=timedelta(days=2))

    announce_sla(now=now, **window)
    announce_sla(now=now + timedelta(minutes=5), **window)
    announce_sla(now=now + timedelta(minutes=31), **window)
    announce_sla(now=now + timedelta(minutes=40), **window)

    assert kinds(account) == ["sla_due_soon", "sla_passed"]
    assert {m.rep_id for m in OutboxMessage.objects.all()} == {rep.pk}


def test_a_contacted_lead_is_not_chased(rep, account, manager):
    Account.objects.filter(pk=account.pk).update(status=LeadStatus.PQL)
    reassign_by_hand([account.pk], rep, changed_by=manager)
    record_outcome(account_id=account.pk, outcome="contacted", changed_by=rep.user)
    Account.objects.filter(pk=account.pk).update(sla_due_at=timezone.now() - timedelta(minutes=1))

    announce_sla(warning=timedelta(hours=1), lookback=timedelta(days=2))

    assert "sla_passed" not in kinds(account)


@pytest.mark.django_db(transaction=True)
def test_channels_are_woken_after_commit_only(account, monkeypatch):
    woken = []
    monkeypatch.setattr(outbox, "_wake_ups", [lambda: woken.append(1)])

    with transaction.atomic():
        announce([Announcement(kind="qualified", account_id=account.pk, version="a")])
        assert woken == []
    assert woken == [1]
    with pytest.raises(RuntimeError), transaction.atomic():
        announce([Announcement(kind="qualified", account_id=account.pk, version="b")])
        raise RuntimeError
    assert woken == [1]
    assert kinds() == ["qualified"]


@pytest.mark.django_db(transaction=True)
def test_two_workers_qualifying_the_same_account_announce_it_once(
    ten_logins, account, make_event, make_rep, make_team, monkeypatch
):
    monkeypatch.setattr(outbox, "_wake_ups", [])
    make_team("Sales", make_rep("ava"), make_rep("ben"))
    for _ in range(10):
        make_event("login")

    run_concurrently(lambda: rescore_accounts([account.pk]), times=4)

    assert sorted(kinds(account)) == ["assigned", "qualified"]


def qualify_new_accounts(count: int, make_event) -> list[Account]:
    """`count` new accounts qualify in one rescore, and are routed."""
    accounts = [Account.objects.create(name=f"Co {i}", external_id=f"co-{i}") for i in range(count)]
    for account in accounts:
        for _ in range(10):
            make_event("login", target=account)
    rescore_accounts([account.pk for account in accounts])
    return accounts


@pytest.mark.postgres
def test_a_rescore_announcing_many_changes_writes_them_as_batches_delivery_unfolds(
    ten_logins, make_event, monkeypatch
):
    monkeypatch.setattr(outbox, "BATCH_FROM", 3)
    accounts = qualify_new_accounts(3, make_event)
    # One row for the three qualified (the CRM's news), one for the three
    # left unassigned (the managers'), in the rescore's transaction.
    batches = list(OutboxBatch.objects.order_by("pk"))
    assert [len(json.loads(batch.notices)) for batch in batches] == [3, 3]
    assert not OutboxMessage.objects.exists()

    assert outbox.unfold_batches(limit=1) == 6  # a batch a transaction, until none waits

    assert not OutboxBatch.objects.exists()
    for account in accounts:
        qualified, unassigned = OutboxMessage.objects.filter(account=account).order_by("pk")
        assert (qualified.kind, qualified.status_change.to_status) == (MessageKind.QUALIFIED, LeadStatus.PQL)
        assert (qualified.email_state, qualified.webhook_state) == (DeliveryState.SKIPPED, DeliveryState.PENDING)
        assert qualified.created_at == batches[0].created_at
        assert unassigned.kind == MessageKind.UNASSIGNED and unassigned.status_change is None
        assert unassigned.payload == {
            "from_status": "pql", "to_status": "pql", "reason": "No routing rules are set up",
            "unassigned": "no_rules",
        }  # fmt: skip
        assert (unassigned.email_state, unassigned.slack_state) == (DeliveryState.PENDING, DeliveryState.PENDING)


@pytest.mark.postgres
def test_a_batch_tells_only_the_accounts_that_changed_since_they_were_told(ten_logins, make_event, monkeypatch):
    monkeypatch.setattr(outbox, "BATCH_FROM", 3)
    accounts = qualify_new_accounts(3, make_event)
    ids = [account.pk for account in accounts]
    outbox.unfold_batches()

    assign_new_pqls(ids)  # routed again, nothing changed
    assert OutboxBatch.objects.count() == 1
    assert outbox.unfold_batches() == 0

    Account.objects.filter(pk=ids[1]).update(country="FR", updated_at=timezone.now())
    assign_new_pqls(ids)
    Account.objects.filter(pk=ids[2]).delete()  # gone before the batch was unfolded
    assert outbox.unfold_batches() == 1
    assert kinds(accounts[1]) == ["qualified", "unassigned", "unassigned"]
    assert kinds(accounts[0]) == ["qualified", "unassigned"]


@pytest.mark.postgres
def test_pqls_left_unassigned_by_a_full_team_in_a_batch_are_told_once_with_their_history(
    ten_logins, make_event, make_rep, make_team, monkeypatch
):
    monkeypatch.setattr(outbox, "BATCH_FROM", 3)
    team = make_team("Sales", make_rep("ava", capacity=0))
    ids = [account.pk for account in qualify_new_accounts(3, make_event)]
    assert outbox.unfold_batches() == 6

    assign_new_pqls(ids)  # routed again: the history says so again, the managers are not told again
    assert OutboxBatch.objects.count() == 1
    assert outbox.unfold_batches() == 0

    full = OutboxMessage.objects.filter(kind=MessageKind.UNASSIGNED_TEAM_FULL).order_by("account_id")
    assert [message.account_id for message in full] == ids
    assert {message.team_id for message in full} == {team.pk}
    assert full[0].change["reason"] == "Team 'Sales' is at capacity (rule 'Sales rule')"
    assert full[0].status_change.details == {"unassigned": "team_full", "team_id": team.pk}
    assert StatusChange.objects.filter(cause="routing").count() == 6


@pytest.mark.postgres
def test_a_batch_that_rolls_back_is_gone_with_its_change(ten_logins, make_event, monkeypatch):
    monkeypatch.setattr(outbox, "BATCH_FROM", 2)
    with pytest.raises(RuntimeError), transaction.atomic():
        qualify_new_accounts(2, make_event)
        assert OutboxBatch.objects.count() == 2
        raise RuntimeError
    assert not OutboxBatch.objects.exists() and not OutboxMessage.objects.exists()


@pytest.mark.postgres
def test_the_channels_unfold_the_batches_before_reading_the_outbox(
    ten_logins, make_event, manager, inline_queues, monkeypatch, mailoutbox
):
    from alerts.delivery import deliver_pending
    from leads.webhooks import fanout, jobs

    monkeypatch.setattr(outbox, "BATCH_FROM", 2)
    qualify_new_accounts(2, make_event)
    assert not OutboxMessage.objects.exists()
    assert fanout.has_pending()  # the sweep sees a batch as work

    jobs.fan_out_job()
    assert not OutboxBatch.objects.exists()
    assert OutboxMessage.objects.exclude(webhook_state=DeliveryState.PENDING).count() == 4  # fanned out

    accounts = [Account.objects.create(name=f"Later {i}", external_id=f"later-{i}") for i in range(2)]
    for account in accounts:
        for _ in range(10):
            make_event("login", target=account)
    rescore_accounts([account.pk for account in accounts])
    mailoutbox.clear()
    delivered = deliver_pending()
    assert not OutboxBatch.objects.exists()
    assert delivered.claimed == 4 and len(mailoutbox) == 4  # the managers hear of all four


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_passes_unfolding_at_once_write_each_message_once(ten_logins, make_event, monkeypatch):
    monkeypatch.setattr(outbox, "_wake_ups", [])
    monkeypatch.setattr(outbox, "BATCH_FROM", 2)
    qualify_new_accounts(4, make_event)

    assert OutboxBatch.objects.count() == 2

    assert sorted(run_concurrently(outbox.unfold_batches, times=3)) == [0, 0, 8]
    assert OutboxMessage.objects.filter(kind=MessageKind.UNASSIGNED).count() == 4
