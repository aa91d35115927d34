"""Rescores run as RQ jobs: after commit, coalesced, retried, on a schedule,
and inline when no Redis is configured."""

import logging

import pytest
from django.urls import reverse
from rq import SimpleWorker

from leads.models import LeadStatus
from scoring import jobs, rescoring
from scoring.models import PendingRescore, ScoringRun

pytestmark = pytest.mark.django_db



def run_worker():
    queue = jobs.scoring_queue()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_inline_mode_rescores_right_after_commit(
    inline_queues, ten_logins, account, make_event, django_capture_on_commit_callbacks, caplog
):
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        for _ in range(10):
            make_event("login")
        jobs.request_rescore([account.pk])
        jobs.request_full_rescore("test")

    account.refresh_from_db()
    assert account.status == LeadStatus.PQL
    assert not caplog.records, caplog.text


def test_inline_mode_reports_a_failing_job(
    inline_queues, ten_logins, account, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    monkeypatch.setattr(rescoring, "rescore_accounts", lambda ids, **kwargs: 1 / 0)
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        jobs.request_rescore([account.pk])
    assert "Rescore 1 account(s) failed" in caplog.text
    assert "ZeroDivisionError" in caplog.text


def test_nothing_is_enqueued_before_the_transaction_commits(
    redis_queues, ten_logins, account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        jobs.request_rescore([account.pk])
    assert jobs.scoring_queue().count == 0
    for callback in callbacks:
        callback()
    assert jobs.scoring_queue().count == 1


def test_a_burst_of_a_thousand_events_leads_to_one_rescore(
    redis_queues, ten_logins, account, make_event, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(1000):
            make_event("login")
            jobs.request_rescore([account.pk])

    queue = jobs.scoring_queue()
    assert queue.count == 1
    run_worker()

    account.refresh_from_db()
    assert account.status == LeadStatus.PQL
    assert queue.count == 0 and not redis_queues.exists(jobs.ROUTINE, jobs.LEASES)


def test_events_after_a_rescore_started_get_one_more(
    redis_queues, ten_logins, account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        jobs.request_rescore([account.pk])
    # The job starts: its flag is cleared before it takes anything.
    redis_queues.delete(jobs.DRAIN_QUEUED)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(50):
            jobs.request_rescore([account.pk])

    assert jobs.scoring_queue().count == 2


def test_one_job_covers_every_account_of_a_batch(
    redis_queues, ten_logins, account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        jobs.request_rescore([account.pk, account.pk + 1000, account.pk + 2000])
    queue = jobs.scoring_queue()
    assert queue.count == 1
    waiting = [int(i) for i in redis_queues.zrange(jobs.ROUTINE, 0, -1)]
    assert sorted(waiting) == [account.pk, account.pk + 1000, account.pk + 2000]


def test_saving_the_active_definition_in_the_admin_rescores_everyone(
    redis_queues, client, manager, ten_logins, account, make_event, django_capture_on_commit_callbacks
):
    for _ in range(3):
        make_event("login")
    client.force_login(manager)
    url = reverse("admin:scoring_definition_change", args=[ten_logins.pk])
    criterion = ten_logins.criteria.get()
    data = {
        "name": ten_logins.name, "description": "", "is_active": "on", "score_threshold": "100",
        "mid_tier_min_employees": "50", "large_tier_min_employees": "500",
        "small_activation": "", "mid_activation": "", "large_activation": "",
        "criteria-TOTAL_FORMS": "1", "criteria-INITIAL_FORMS": "1",
        "criteria-0-id": str(criterion.pk), "criteria-0-definition": str(ten_logins.pk),
        "criteria-0-position": "0", "criteria-0-label": "Logged in 3 times",
        "criteria-0-role": "trigger", "criteria-0-family": "intent", "criteria-0-points": "0",
        "criteria-0-kind": "event_count", "criteria-0-subject": "account", "criteria-0-field": "",
        "criteria-0-operator": "gte", "criteria-0-value": "3", "criteria-0-event_name": "login",
        "criteria-0-property_key": "", "criteria-0-property_value": "", "criteria-0-window": "ever",
        "criteria-0-window_days": "",
        "milestones-TOTAL_FORMS": "0", "milestones-INITIAL_FORMS": "0",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, data)
    assert response.status_code == 302

    queue = jobs.scoring_queue()
    assert [job.func_name for job in queue.jobs] == ["scoring.jobs.rescore_all_job"]
    run_worker()

    account.refresh_from_db()
    assert account.status == LeadStatus.PQL
    assert ScoringRun.objects.get().accounts_scored == 1


def test_full_rescores_coalesce_too(redis_queues, ten_logins, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            jobs.request_full_rescore("test")
    assert jobs.scoring_queue().count == 1


def test_a_failing_rescore_is_retried_and_then_kept_as_failed(
    redis_queues, ten_logins, account, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(account_ids, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(rescoring, "rescore_accounts", broken)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.request_rescore([account.pk])
    queue = jobs.scoring_queue()
    job = queue.jobs[0]

    run_worker()

    job.refresh()
    assert job.get_status() == "scheduled"
    assert job.retries_left == 2
    assert job.id in queue.scheduled_job_registry
    # The account waits again, unleased, for the retry to take it.
    assert [int(i) for i in redis_queues.zrange(jobs.ROUTINE, 0, -1)] == [account.pk]
    assert not redis_queues.exists(jobs.LEASES)


def test_jobs_that_exhaust_retries_show_in_the_failed_registry(
    redis_queues, ten_logins, account, monkeypatch
):
    monkeypatch.setattr(jobs, "RETRY", None)
    monkeypatch.setattr(rescoring, "rescore_accounts", lambda ids, **kwargs: 1 / 0)
    jobs.enqueue_rescore([account.pk])
    queue = jobs.scoring_queue()

    run_worker()

    assert queue.failed_job_registry.count == 1


def test_redis_down_does_not_fail_the_caller(settings, ten_logins, account, caplog):
    settings.RQ_QUEUES = {
        name: {**config, "URL": "redis://127.0.0.1:9/0", "ASYNC": True}
        for name, config in settings.RQ_QUEUES.items()
    }
    with caplog.at_level(logging.WARNING):
        assert jobs.enqueue_rescore([account.pk]) == []
        assert jobs.enqueue_full_rescore("test") is False
    assert "Queue unreachable: holding 1 account(s)" in caplog.text
    assert list(PendingRescore.objects.values_list("account_id", "reason")) == [
        (account.pk, "queue unreachable")
    ]


def test_the_scheduler_runs_the_time_driven_pass_the_catch_up_pass_and_a_daily_full_rescore(
    redis_queues,
):
    from django_rq.cron import DjangoCronScheduler

    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("pqlsite.cron")

    scheduled = {cron_job.func: cron_job for cron_job in scheduler.get_jobs()}
    assert scheduled[jobs.time_driven_job].interval == 60
    assert scheduled[jobs.scheduled_rescore].interval == 24 * 3600
    assert scheduled[jobs.catch_up_job].interval == 60
    assert scheduled[jobs.scheduled_rescore].queue_name == scheduled[jobs.catch_up_job].queue_name == "scoring"


def test_the_job_dashboard_is_linked_from_the_admin(client, superuser, redis_queues):
    client.force_login(superuser)
    index = client.get(reverse("admin:index")).content.decode()
    dashboard = reverse("admin:django_rq_dashboard_changelist")
    assert dashboard in index
    assert client.get(dashboard, follow=True).status_code == 200


def test_the_rescore_command_scores_every_account_with_the_starter_definition(book):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("rescore", "--starter", stdout=out, stderr=StringIO())

    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith(f"accounts={book.count()} changed={book.count()} ")
    assert ScoringRun.objects.get().accounts_scored == book.count()
