"""The active definition's scorecard is built once and kept while the
definition is unchanged; any change, however it is written and whichever
process writes it, is scored by the next rescore."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection, transaction

from leads.models import LeadStatus
from scoring.definitions import activate, create_definition, row_of, save_definition
from scoring.models import AccountScore, Criterion, Definition, Milestone
from scoring.rescoring import rescore_accounts
from scoring.scorecards import active_scorecard, read_active_scorecard

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
LOGINS = dict(label="Logins", points=10, event_name="login", operator="gte", value="3")


@pytest.fixture
def live():
    return create_definition(name="Live", is_active=True, score_threshold=10, criteria=[LOGINS])


def test_an_unchanged_definition_is_built_once_and_then_keyed_in_one_query(
    live, django_assert_num_queries
):
    card = active_scorecard()
    with django_assert_num_queries(1):
        assert active_scorecard() is card


def test_no_active_definition_means_no_scorecard(live):
    assert active_scorecard() is not None
    Definition.objects.update(is_active=False)
    assert active_scorecard() is None


def change_threshold_through_the_service(definition):
    definition.score_threshold = 40
    save_definition(definition)


def change_points_with_a_plain_update(definition):
    Criterion.objects.filter(definition=definition).update(points=3)


def change_a_criterion_through_the_service(definition):
    save_definition(definition, criteria=[{**row_of(definition.criteria.get()), "value": "5"}])


def add_a_milestone(definition):
    Milestone.objects.create(definition=definition, label="Invited", event_name="invite_sent")


def remove_the_criteria(definition):
    Criterion.objects.filter(definition=definition).delete()


def activate_another(definition):
    activate(create_definition(name="Other", score_threshold=10, criteria=[LOGINS]))


@pytest.mark.parametrize(
    "change",
    [
        change_threshold_through_the_service,
        change_points_with_a_plain_update,
        change_a_criterion_through_the_service,
        add_a_milestone,
        remove_the_criteria,
        activate_another,
    ],
)
def test_every_change_is_seen_by_the_next_call(live, change):
    before = active_scorecard()
    change(Definition.objects.get(pk=live.pk))
    after = active_scorecard()
    assert after is not before
    assert after == read_active_scorecard()


def test_a_definition_change_is_scored_by_the_next_rescore(live, account, make_event):
    for _ in range(3):
        make_event("login")
    rescore_accounts([account.pk])
    account.refresh_from_db()
    assert account.status == LeadStatus.PQL

    Definition.objects.filter(pk=live.pk).update(score_threshold=40)  # no service, no signal
    rescore_accounts([account.pk])

    account.refresh_from_db()
    assert account.status == LeadStatus.SIGNED_UP
    assert not AccountScore.objects.get(account=account).qualifies


def test_a_change_rolled_back_is_forgotten(live):
    kept = active_scorecard()
    with pytest.raises(RuntimeError), transaction.atomic():
        Definition.objects.filter(pk=live.pk).update(score_threshold=40)
        assert active_scorecard().score_threshold == 40  # seen in its own transaction
        raise RuntimeError("rolled back")
    assert active_scorecard().score_threshold == kept.score_threshold == 10


# A process of its own, as a worker is: it prints the threshold and the
# first criterion's points of the active scorecard for every line it reads.
READER = """
import sys
from scoring.scorecards import active_scorecard
for line in sys.stdin:
    card = active_scorecard()
    print(card.score_threshold, card.rules[0].points, flush=True)
"""


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_by_another_process_is_seen_by_a_worker_process(live):
    options = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{options['USER']}@{options['HOST'] or '127.0.0.1'}:"
        f"{options['PORT'] or 5432}/{options['NAME']}",
    }
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", READER],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def ask() -> str:
        worker.stdin.write("\n")
        worker.stdin.flush()
        return worker.stdout.readline().strip()

    try:
        assert ask() == "10 10"
        assert ask() == "10 10"  # kept
        change_threshold_through_the_service(Definition.objects.get(pk=live.pk))
        assert ask() == "40 10"
        change_points_with_a_plain_update(live)
        assert ask() == "40 3"
    finally:
        worker.stdin.close()
        worker.wait(timeout=20)
