"""The criteria lab: what a draft would change, how it would have done on
accounts whose outcome is known, and what predicts conversion, checked
exactly on a hand-built book; computed as a job with visible progress,
without writing a score or a status; for managers only."""

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rq import SimpleWorker

from leads.models import Account, Event, LeadStatus, StatusChange
from scoring import jobs
from scoring.definitions import create_definition, record_change
from scoring.engine import Measure
from scoring.lab import runs
from scoring.lab.analysis import by_lift, lift_row
from scoring.lab.history import counts_before_outcome, known_outcomes
from scoring.models import AccountScore, Definition, LabRun
from scoring.rescoring import rescore_all

pytestmark = pytest.mark.django_db

S = timezone.now().replace(microsecond=0) - timedelta(days=90)  # every signup
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def lab_account(name, *, status=LeadStatus.SIGNED_UP, outcome_after=None, events=()):
    """An account that signed up at S, with events (name, time after S) and,
    for a known outcome, the change to it `outcome_after` S."""
    made = Account.objects.create(name=name, signed_up_at=S, status=status, plan="trial",
                                  trial_ends_at=S + 14 * DAY, employee_count=20)
    Event.objects.bulk_create(
        Event(account=made, name=event, occurred_at=S + after) for event, after in events
    )
    if outcome_after is not None:
        StatusChange.objects.create(
            account=made, from_status="contacted", to_status=status, changed_at=S + outcome_after, cause="user"
        )
    return made


def times(event, n, after):
    return [(event, after)] * n


@pytest.fixture
def active():
    return create_definition(
        name="Hand raisers", is_active=True, score_threshold=100,
        criteria=[dict(label="Asked for sales", role="trigger", event_name="contact_sales_clicked",
                       operator="gte", value="1")],
    )


@pytest.fixture
def draft(active):
    return create_definition(
        name="Inviters", score_threshold=100,
        criteria=[
            dict(label="Invited 3+ teammates", role="trigger", event_name="invite_sent", operator="gte", value="3"),
            dict(label="Logged in", points=10, event_name="login", operator="gte", value="1"),
        ],
    )


@pytest.fixture
def outcomes_book(active):
    """Four converters (C) and four disqualified (D) accounts, and two open ones.

    C3 invited its team only after it converted, so nothing before its
    outcome says so; D3 uploaded a file after its first 14 days.
    """
    converted, disqualified = LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED
    book = {
        "C1": lab_account("C1", status=converted, outcome_after=10 * DAY,
                      events=[*times("invite_sent", 3, 2 * DAY), ("login", HOUR)]),
        "C2": lab_account("C2", status=converted, outcome_after=20 * DAY,
                      events=[*times("invite_sent", 3, 8 * DAY), ("contact_sales_clicked", DAY)]),
        "C3": lab_account("C3", status=converted, outcome_after=5 * DAY, events=times("invite_sent", 3, 6 * DAY)),
        "C4": lab_account("C4", status=converted, outcome_after=30 * DAY, events=[("pricing_page_viewed", 3 * DAY)]),
        "D1": lab_account("D1", status=disqualified, outcome_after=10 * DAY, events=times("invite_sent", 3, DAY)),
        "D2": lab_account("D2", status=disqualified, outcome_after=10 * DAY,
                      events=[("login", 2 * DAY), ("contact_sales_clicked", 2 * DAY)]),
        "D3": lab_account("D3", status=disqualified, outcome_after=15 * DAY, events=[("file_uploaded", 14 * DAY + HOUR)]),
        "D4": lab_account("D4", status=disqualified, outcome_after=15 * DAY,
                      events=[*times("invite_sent", 2, DAY), ("login", DAY)]),
        "O1": lab_account("O1", events=times("invite_sent", 5, DAY)),
        "O2": lab_account("O2", events=[("contact_sales_clicked", DAY)]),
    }
    rescore_all()  # the active definition's stored results; O2 becomes a PQL
    return book


@pytest.fixture
def result(outcomes_book, draft):
    return runs.compute(draft)


def test_known_outcomes_come_from_the_status_history(outcomes_book):
    outcomes = known_outcomes()

    assert sorted(Account.objects.get(pk=pk).name for pk in outcomes) == [
        "C1", "C2", "C3", "C4", "D1", "D2", "D3", "D4",
    ]
    c1 = outcomes[outcomes_book["C1"].pk]
    assert (c1.converted, c1.decided_at, c1.plan_before) == (True, S + 10 * DAY, "trial")
    assert not outcomes[outcomes_book["D1"].pk].converted


def test_an_outcome_recorded_twice_counts_the_events_before_the_latest_once():
    twice = lab_account("Twice", status=LeadStatus.CONVERTED, outcome_after=5 * DAY,
                    events=[("login", DAY), *times("invite_sent", 3, 8 * DAY)])
    StatusChange.objects.create(account=twice, from_status="converted", to_status="contacted",
                                changed_at=S + 6 * DAY, cause="user")
    StatusChange.objects.create(account=twice, from_status="contacted", to_status="converted",
                                changed_at=S + 12 * DAY, cause="user")
    logins, invites = Measure(event_name="login"), Measure(event_name="invite_sent")

    counts = counts_before_outcome([logins, invites], account_ids=[twice.pk])[twice.pk]

    assert known_outcomes()[twice.pk].decided_at == S + 12 * DAY
    assert (counts[None][logins], counts[None][invites]) == (1, 3)
    assert (counts[7][invites], counts[14][invites]) == (0, 3)  # by day 7, by day 14 (cut at the outcome)


def test_what_if_counts_who_would_newly_qualify_and_who_would_drop_out(result, outcomes_book):
    what = result["what_if"]

    assert (what["live_qualifying"], what["draft_qualifying"]) == (3, 5)
    assert (what["newly"], what["becoming_pql"]) == (4, 1)  # C1, C3, D1, O1; only O1 is signed up
    assert (what["dropping"], what["leaving_pql"]) == (2, 1)  # D2 and O2, the unassigned PQL
    assert {e["name"] for e in what["newly_examples"]} == {"O1", "C1", "C3", "D1"}
    assert (what["newly_examples"][0]["name"], what["newly_examples"][0]["why"]) == (
        "O1", "At once: Invited 3+ teammates",
    )
    assert [e["name"] for e in what["dropping_examples"]] == ["O2", "D2"]
    assert what["dropping_examples"][0]["why"] == "Score 0, needs 100"


def test_the_backtest_counts_recall_precision_and_lead_time_before_the_outcome(result):
    test = result["backtest"]

    # Flagged: C1 (day 3), C2 (day 14) and D1 (day 3); C3's invites came after it converted.
    assert (test["known"], test["converters"], test["flagged"], test["flagged_converters"]) == (8, 4, 3, 2)
    assert (test["recall"], test["precision"], test["base_rate"]) == (50.0, 66.67, 50.0)
    assert test["median_lead_days"] == 6.5  # C1: day 3 to day 10; C2: day 14 to day 20


def test_the_active_definition_is_backtested_alongside(result):
    active = result["active_backtest"]

    # C2 asked for sales on day 1 (flagged by day 3, converted on day 20); D2 did too.
    assert (active["definition"], active["flagged"], active["flagged_converters"]) == ("Hand raisers", 2, 1)
    assert (active["recall"], active["precision"], active["median_lead_days"]) == (25.0, 50.0, 17.0)


def test_each_criterion_shows_conversion_with_and_without_it_and_the_lift(result):
    criteria = {row["label"]: row for row in result["backtest"]["criteria"]}

    invited = criteria["Invited 3+ teammates"]
    assert (invited["did"], invited["did_converted"], invited["didnt"], invited["didnt_converted"]) == (3, 2, 5, 2)
    assert (invited["rate_did"], invited["rate_didnt"], invited["lift"]) == (66.67, 40.0, 1.67)
    assert invited["small_sample"]
    logged_in = criteria["Logged in"]
    assert (logged_in["did"], logged_in["rate_did"], logged_in["rate_didnt"], logged_in["lift"]) == (3, 33.33, 60.0, 0.56)


def test_every_event_name_at_each_threshold_sorted_by_lift(result):
    rows = result["events"]["rows"]

    assert [(row["label"], row["did"], row["did_converted"], row["lift"]) for row in rows] == [
        ("pricing_page_viewed 1+ times in the first 14 days", 1, 1, 2.33),
        ("invite_sent 3+ times in the first 14 days", 3, 2, 1.67),
        ("contact_sales_clicked 1+ times in the first 14 days", 2, 1, 1.0),
        ("invite_sent 1+ times in the first 14 days", 4, 2, 1.0),  # C3's came after it converted
        ("login 1+ times in the first 14 days", 3, 1, 0.56),
    ]  # no file_uploaded: D3's came after its first 14 days; nobody did anything 10 times
    assert all(row["small_sample"] for row in rows)


def test_lift_is_unbounded_when_nobody_without_it_converted_and_small_samples_are_marked():
    unbounded = lift_row(label="a", kind="event", did=40, did_converted=10, total=100, total_converted=10)
    undefined = lift_row(label="b", kind="event", did=0, did_converted=0, total=100, total_converted=10)
    plain = lift_row(label="c", kind="event", did=50, did_converted=10, total=100, total_converted=15)

    assert (unbounded["lift"], unbounded["unbounded"], unbounded["small_sample"]) == (None, True, False)
    assert (undefined["lift"], undefined["unbounded"], undefined["small_sample"]) == (None, False, True)
    assert (plain["rate_did"], plain["rate_didnt"], plain["lift"], plain["small_sample"]) == (20.0, 10.0, 2.0, False)
    assert [row["label"] for row in by_lift([undefined, plain, unbounded])] == ["a", "c", "b"]


def test_the_lab_writes_no_score_and_no_status(outcomes_book, draft):
    def state():
        return (
            list(Account.objects.order_by("pk").values_list("pk", "status", "owner_id")),
            list(AccountScore.objects.order_by("pk").values_list("pk", "qualifies", "digest", "computed_at")),
            StatusChange.objects.count(),
        )

    before = state()
    runs.compute(draft)
    assert state() == before


def test_the_computation_takes_a_fixed_number_of_queries(outcomes_book, draft, django_assert_num_queries):
    with django_assert_num_queries(14):
        runs.compute(draft)


# Runs: the job, its progress, and the page.


def test_computing_from_the_page_runs_a_job_and_shows_the_result(
    inline_queues, manager_client, draft, outcomes_book, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(reverse("lab-run", args=[draft.pk]))
    assert response.status_code == 302

    run = LabRun.objects.get()
    assert (run.status, run.progress, run.step) == ("done", 100, "Done")
    assert run.result["backtest"]["recall"] == 50.0
    page = manager_client.get(reverse("lab-definition", args=[draft.pk])).content.decode()
    assert "Computed" in page and "Recompute" in page
    assert "50.0%" in page and "66.67%" in page and "6.5 days" in page
    assert "pricing_page_viewed 1+ times in the first 14 days" in page
    assert 'http-equiv="refresh"' not in page


def test_a_queued_run_shows_its_progress_and_the_worker_finishes_it(
    redis_queues, manager_client, draft, outcomes_book, django_capture_on_commit_callbacks, monkeypatch
):
    with django_capture_on_commit_callbacks(execute=True):
        manager_client.post(reverse("lab-run", args=[draft.pk]))
    page = manager_client.get(reverse("lab-definition", args=[draft.pk])).content.decode()
    assert "Queued:" in page and 'http-equiv="refresh"' in page and 'value="0"' in page

    seen = []
    report = runs.report_progress

    def watch(run_id, percent, step):
        report(run_id, percent, step)
        seen.append(LabRun.objects.values_list("status", "progress", "step").get(pk=run_id))

    monkeypatch.setattr(runs, "report_progress", watch)
    queue = jobs.scoring_queue()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    assert [status for status, _, _ in seen] == ["running"] * len(seen) and len(seen) >= 4
    assert [progress for _, progress, _ in seen] == sorted(progress for _, progress, _ in seen)
    assert LabRun.objects.get().status == "done"


def test_asking_again_while_a_run_is_pending_adds_nothing(draft, manager_client):
    first, created = runs.request_run(draft)
    again, created_again = runs.request_run(draft)

    assert created and not created_again and again == first
    response = manager_client.post(reverse("lab-run", args=[draft.pk]), follow=True)
    assert "already under way" in response.content.decode()
    assert LabRun.objects.count() == 1


def test_a_run_lost_for_an_hour_gives_way_to_a_new_one(draft):
    lost, _ = runs.request_run(draft)
    LabRun.objects.filter(pk=lost.pk).update(requested_at=timezone.now() - timedelta(hours=2))

    fresh, created = runs.request_run(draft)

    assert created and fresh != lost
    lost.refresh_from_db()
    assert (lost.status, lost.error) == ("failed", "Lost: never finished.")


def test_a_failing_run_says_so_on_the_page(
    inline_queues, manager_client, draft, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(runs, "compute", lambda definition, progress: 1 / 0)
    with django_capture_on_commit_callbacks(execute=True):
        manager_client.post(reverse("lab-run", args=[draft.pk]))

    assert LabRun.objects.get().status == "failed"
    page = manager_client.get(reverse("lab-definition", args=[draft.pk])).content.decode()
    assert "The last computation failed: ZeroDivisionError" in page


def test_a_change_to_the_definition_after_the_run_is_pointed_out(
    inline_queues, manager_client, draft, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        runs.request_run(draft)
    assert "changed since" not in manager_client.get(reverse("lab-definition", args=[draft.pk])).content.decode()

    record_change(draft)

    assert "changed since" in manager_client.get(reverse("lab-definition", args=[draft.pk])).content.decode()


def test_the_lab_tables_download_as_csv(
    inline_queues, manager_client, draft, outcomes_book, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        runs.request_run(draft)

    response = manager_client.get(reverse("lab-csv", args=[draft.pk, "events"]))
    assert response["Content-Disposition"] == f'attachment; filename="lab-{draft.pk}-events.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert (rows[0]["label"], rows[0]["did"], rows[0]["lift_shown"], rows[0]["small_sample"]) == (
        "pricing_page_viewed 1+ times in the first 14 days", "1", "2.33", "True",
    )
    for table in ("criteria", "backtest", "newly", "dropping"):
        assert manager_client.get(reverse("lab-csv", args=[draft.pk, table])).status_code == 200
    assert manager_client.get(reverse("lab-csv", args=[draft.pk, "nope"])).status_code == 404


def test_the_lab_lists_definitions_and_makes_a_draft_of_the_active_one(manager_client, active, draft):
    page = manager_client.get(reverse("lab")).content.decode()
    assert "Hand raisers" in page and "Inviters" in page and "never" in page

    response = manager_client.post(reverse("lab-new-draft"))

    copy = Definition.objects.get(name="Hand raisers (draft)")
    assert response.url == reverse("lab-definition", args=[copy.pk])
    assert not copy.is_active and copy.criteria.count() == 1


@pytest.mark.parametrize("name", ["lab", "lab-definition", "lab-csv"])
def test_only_managers_use_the_lab(name, draft, rep, django_user_model):
    args = {"lab": [], "lab-definition": [draft.pk], "lab-csv": [draft.pk, "events"]}[name]
    url = reverse(name, args=args)
    assert Client().get(url).status_code == 302
    as_rep = Client()
    as_rep.force_login(rep.user)
    assert as_rep.get(url).status_code == 404
    assert as_rep.post(reverse("lab-run", args=[draft.pk])).status_code == 404
    someone = Client()
    someone.force_login(django_user_model.objects.create_user("someone", password="pw"))
    assert someone.get(url).status_code == 403
    assert not LabRun.objects.exists()


def test_computing_takes_a_post(manager_client, draft):
    assert manager_client.get(reverse("lab-run", args=[draft.pk])).status_code == 405
