"""Rescore accounts under the active definition: gather facts in SQL, evaluate
them with the pure engine, write changed results in bulk and move lead
statuses between signed up and PQL.

One account or all of them take the same path; a full rescore walks the
accounts in id ranges so that memory and each transaction stay bounded.
"""

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from leads.models import Account, LeadStatus, StatusCause
from leads.services import move_accounts

from .engine import Result, Scorecard, evaluate
from .facts import gather_facts, in_scope
from .models import AccountScore, ScoringRun
from .scorecards import active_scorecard

CHUNK_SIZE = 10_000
UPSERT_BATCH = 1_000
RESULT_COLUMNS = [
    "account_id",
    "definition_id",
    "score",
    "activation",
    "tier",
    "qualifies",
    "triggered",
    "explanation",
    "digest",
    "computed_at",
]


@dataclass
class Outcome:
    scored: int = 0
    changed: int = 0
    statuses_changed: int = 0

    def add(self, other: "Outcome") -> None:
        self.scored += other.scored
        self.changed += other.changed
        self.statuses_changed += other.statuses_changed


def digest(result: Result, definition_id: int | None) -> str:
    payload = [
        definition_id,
        result.score,
        result.activation,
        result.tier,
        result.qualifies,
        result.triggered,
        result.explanation,
    ]
    return hashlib.sha1(
        json.dumps(payload, sort_keys=True, default=str).encode(), usedforsecurity=False
    ).hexdigest()


def write_results(
    results: list[Result], *, digests: dict[int, str], definition_id, computed_at: datetime
) -> set[int]:
    """Upsert results; a row computed later than ours is left alone.

    Returns the account ids whose row now holds our result.
    """
    if not results:
        return set()
    table = connection.ops.quote_name(AccountScore._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(column) for column in RESULT_COLUMNS)
    updates = ", ".join(
        f"{connection.ops.quote_name(column)} = EXCLUDED.{connection.ops.quote_name(column)}"
        for column in RESULT_COLUMNS[1:]
    )
    explanation_field = AccountScore._meta.get_field("explanation")
    computed_field = AccountScore._meta.get_field("computed_at")
    computed = computed_field.get_db_prep_save(computed_at, connection)
    json_placeholder = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    row_placeholder = f"(%s, %s, %s, %s, %s, %s, %s, {json_placeholder}, %s, %s)"
    applied = set()
    with connection.cursor() as cursor:
        for start in range(0, len(results), UPSERT_BATCH):
            batch = results[start : start + UPSERT_BATCH]
            params = []
            for result in batch:
                params += [
                    result.account_id,
                    definition_id,
                    result.score,
                    result.activation,
                    result.tier,
                    result.qualifies,
                    result.triggered,
                    json.dumps(result.explanation)
                    if connection.vendor == "postgresql"
                    else explanation_field.get_db_prep_save(result.explanation, connection),
                    digests[result.account_id],
                    computed,
                ]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([row_placeholder] * len(batch))} "  # noqa: S608
                f"ON CONFLICT (account_id) DO UPDATE SET {updates} "
                f"WHERE {table}.computed_at <= EXCLUDED.computed_at "
                f"RETURNING account_id",
                params,
            )
            applied.update(row[0] for row in cursor.fetchall())
    return applied


def status_moves(
    results: Iterable[Result], statuses: dict[int, str], current: set[int]
) -> tuple[dict[int, Result], list[int]]:
    """Accounts to qualify (signed up -> PQL) and to drop (PQL -> signed up).

    Only accounts whose stored result is ours move; human outcomes never do.
    """
    qualify, drop = {}, []
    for result in results:
        if result.account_id not in current:
            continue
        status = statuses.get(result.account_id)
        if result.qualifies and status == LeadStatus.SIGNED_UP:
            qualify[result.account_id] = result
        elif not result.qualifies and status == LeadStatus.PQL:
            drop.append(result.account_id)
    return qualify, drop


def rescore_scope(
    card: Scorecard, *, account_ids: list[int] | None = None, id_range=None
) -> Outcome:
    """Score the accounts in scope in one transaction."""
    now = timezone.now()
    facts, statuses = gather_facts(card, now=now, account_ids=account_ids, id_range=id_range)
    results = [evaluate(card, account_facts) for account_facts in facts]
    digests = {result.account_id: digest(result, card.id) for result in results}
    with transaction.atomic():
        stored = dict(
            AccountScore.objects.filter(
                in_scope("account_id", account_ids=account_ids, id_range=id_range)
            ).values_list("account_id", "digest")
        )
        changed = [result for result in results if stored.get(result.account_id) != digests[result.account_id]]
        applied = write_results(changed, digests=digests, definition_id=card.id, computed_at=now)
        unchanged = {result.account_id for result in results} - {r.account_id for r in changed}
        qualify, drop = status_moves(results, statuses, applied | unchanged)
        moved = move_accounts(
            account_ids=qualify,
            from_status=LeadStatus.SIGNED_UP,
            to_status=LeadStatus.PQL,
            cause=StatusCause.SCORING,
            reasons={
                account_id: "Qualified: " + "; ".join(result.explanation["qualified_by"])
                for account_id, result in qualify.items()
            },
            details={
                account_id: {
                    "definition": card.name,
                    "score": result.score,
                    "activation": result.activation,
                    "qualified_by": result.explanation["qualified_by"],
                    "reasons": result.explanation["reasons"],
                }
                for account_id, result in qualify.items()
            },
        )
        dropped = move_accounts(
            account_ids=drop,
            from_status=LeadStatus.PQL,
            to_status=LeadStatus.SIGNED_UP,
            cause=StatusCause.SCORING,
            reasons=dict.fromkeys(drop, f"No longer qualifies under {card.name}."),
        )
    return Outcome(scored=len(results), changed=len(applied), statuses_changed=len(moved) + len(dropped))


def rescore_accounts(account_ids: Iterable[int]) -> Outcome:
    """Rescore some accounts (after new events) under the active definition."""
    card = active_scorecard()
    ids = sorted(set(account_ids))
    if card is None or not ids:
        return Outcome()
    outcome = Outcome()
    for start in range(0, len(ids), CHUNK_SIZE):
        outcome.add(rescore_scope(card, account_ids=ids[start : start + CHUNK_SIZE]))
    return outcome


def rescore_all(*, reason: str = "", progress: Callable[[int], None] | None = None) -> ScoringRun:
    """Rescore every account, chunk by chunk, and record the run."""
    card = active_scorecard()
    run = ScoringRun.objects.create(
        definition_id=card.id if card else None, reason=reason, started_at=timezone.now()
    )
    outcome = Outcome()
    if card is not None:
        bounds = Account.objects.aggregate(low=Min("pk"), high=Max("pk"))
        if bounds["low"] is not None:
            for low in range(bounds["low"], bounds["high"] + 1, CHUNK_SIZE):
                chunk = rescore_scope(card, id_range=(low, low + CHUNK_SIZE - 1))
                outcome.add(chunk)
                if progress:
                    progress(chunk.scored)
    ScoringRun.objects.filter(pk=run.pk).update(
        finished_at=timezone.now(),
        accounts_scored=outcome.scored,
        results_changed=outcome.changed,
        statuses_changed=outcome.statuses_changed,
    )
    run.refresh_from_db()
    return run
