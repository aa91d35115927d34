"""Lab runs: ask for one (a service, coalesced per definition), and the RQ job
that computes it with visible progress and stores the result. Nothing here
writes scores or lead statuses."""

import dataclasses
import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from leads.models import Account

from ..engine import evaluate
from ..facts import gather_facts
from ..jobs import enqueue
from ..models import AccountScore, Definition, LabRun
from ..rescoring import gc_paused
from ..scorecards import scorecard_for
from .analysis import backtest, what_if
from .history import known_outcomes, timelines
from .predictors import FIRST_DAYS, THRESHOLDS, event_predictors

log = logging.getLogger(__name__)

CHUNK_SIZE = 10_000
# A run still pending after this long was lost (a worker died): ask again.
STALE_AFTER = timedelta(hours=1)


def request_run(definition: Definition, *, requested_by=None) -> tuple[LabRun | None, bool]:
    """Queue a computation for the definition once the transaction commits.

    Returns the run and whether it is new: while one is queued or running,
    asking again returns that one (a unique constraint keeps it to one).
    """
    now = timezone.now()
    LabRun.objects.filter(
        definition=definition,
        status__in=[LabRun.Status.QUEUED, LabRun.Status.RUNNING],
        requested_at__lt=now - STALE_AFTER,
    ).update(status=LabRun.Status.FAILED, error="Lost: never finished.", finished_at=now)
    try:
        with transaction.atomic():
            run = LabRun.objects.create(definition=definition, requested_by=requested_by, requested_at=now)
    except IntegrityError:
        return pending_run(definition), False
    transaction.on_commit(lambda: enqueue_run(run.pk), robust=True)
    return run, True


def pending_run(definition: Definition) -> LabRun | None:
    return LabRun.objects.filter(
        definition=definition, status__in=[LabRun.Status.QUEUED, LabRun.Status.RUNNING]
    ).first()


def last_result(definition: Definition) -> LabRun | None:
    return LabRun.objects.filter(definition=definition, status=LabRun.Status.DONE).order_by(
        "-finished_at"
    ).first()


def enqueue_run(run_id: int) -> None:
    try:
        enqueue(lab_run_job, run_id, description=f"Criteria lab run {run_id}")
    except Exception:
        # Redis unreachable: say so on the page rather than wait for ever.
        log.exception("Could not enqueue lab run %s", run_id)
        LabRun.objects.filter(pk=run_id).update(
            status=LabRun.Status.FAILED, error="Could not queue the job.", finished_at=timezone.now()
        )


def lab_run_job(run_id: int) -> None:
    """The RQ entry point: takes an id and re-reads everything.

    A failure is recorded on the run (the page shows it) rather than raised:
    retrying a long read-only computation helps nobody; recomputing is a click.
    """
    run = LabRun.objects.filter(pk=run_id).select_related("definition").first()
    if run is None or not run.pending:
        return
    LabRun.objects.filter(pk=run_id).update(
        status=LabRun.Status.RUNNING, started_at=timezone.now(), progress=0, step="Starting", error=""
    )
    try:
        result = compute(run.definition, progress=lambda percent, step: report_progress(run_id, percent, step))
    except Exception as error:
        log.exception("Lab run %s failed", run_id)
        LabRun.objects.filter(pk=run_id).update(
            status=LabRun.Status.FAILED, error=f"{type(error).__name__}: {error}", finished_at=timezone.now()
        )
        return
    LabRun.objects.filter(pk=run_id).update(
        status=LabRun.Status.DONE, result=result, progress=100, step="Done", finished_at=timezone.now()
    )


def report_progress(run_id: int, percent: int, step: str) -> None:
    LabRun.objects.filter(pk=run_id).update(progress=percent, step=step)


def compute(definition: Definition, *, progress=lambda percent, step: None) -> dict:
    """What-if against the active definition, backtest of both, and what
    predicts conversion. Reads only."""
    definition = Definition.objects.prefetch_related("criteria", "milestones").get(pk=definition.pk)
    card = scorecard_for(definition)
    active = Definition.objects.active().prefetch_related("criteria", "milestones").first()
    active_card = scorecard_for(active) if active else None
    now = timezone.now()
    result: dict = {
        "definition": {"id": definition.pk, "name": definition.name, "active": definition.is_active},
        "active": {"id": active.pk, "name": active.name} if active else None,
        "computed_at": now.isoformat(),
    }

    with gc_paused():
        progress(5, "Reading every account's facts for this definition")
        book = gather_facts(card, now=now)
        live = dict(AccountScore.objects.values_list("account_id", "qualifies"))
        results = []
        total = max(len(book.facts), 1)
        for start in range(0, len(book.facts), CHUNK_SIZE):
            results += [evaluate(card, facts) for facts in book.facts[start : start + CHUNK_SIZE]]
            progress(30 + round(30 * min(start + CHUNK_SIZE, total) / total), "Evaluating every account")
        result["what_if"] = what_if(card, results, live=live, statuses=book.statuses)
        del book, results

        progress(62, "Reading accounts with a known outcome and their events before it")
        outcomes = known_outcomes()
        # One read of the events serves both definitions: the union of their measures.
        combined = card if active_card is None else _union(card, active_card)
        lines = timelines(combined, outcomes)
        progress(80, "Replaying the definitions at each checkpoint")
        result["backtest"] = backtest(card, lines)
        result["active_backtest"] = (
            backtest(active_card, lines) if active_card and active_card.id != card.id else None
        )
        del lines

    progress(90, "Measuring what predicts conversion")
    converters = sum(outcome.converted for outcome in outcomes.values())
    result["events"] = {
        "days": FIRST_DAYS,
        "thresholds": list(THRESHOLDS),
        "rows": event_predictors(total=len(outcomes), total_converted=converters),
    }
    _add_names(result["what_if"])
    return result


def _union(card, other):
    """A scorecard whose facts cover both (it is never evaluated itself)."""
    return dataclasses.replace(card, rules=card.rules + other.rules, milestones=card.milestones + other.milestones)


def _add_names(what: dict) -> None:
    examples = what["newly_examples"] + what["dropping_examples"]
    names = dict(Account.objects.filter(pk__in=[e["account_id"] for e in examples]).values_list("pk", "name"))
    for example in examples:
        example["name"] = names.get(example["account_id"], "")
