"""Lead histories for the demo: when each account became a PQL, the rep it
went to, and how far that rep took it, as status change rows."""

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from scoring.engine import Scorecard, explain

from ..models import LeadStatus, StatusCause
from ..routing import coverage_holds
from .accounts import DAY, AccountPlan, tier_for, when
from .qualification import Turn
from .vocabulary import (
    CONTACTED_REASONS,
    CONVERTED_REASONS,
    DISQUALIFIED_REASONS,
    OUTCOME_SHARES,
)

# Scoring notices an event this long after it happened (the batch arrives,
# the rescore job runs): a few seconds to two minutes.
NOTICED_AFTER = (5, 120)
# Routing runs in the rescore's own transaction.
ROUTED_AFTER = (1, 3)
# Most within the 24-hour SLA, some late.
CONTACTED_AFTER = (3600, 40 * 3600)
CLOSED_AFTER = (DAY, 21 * DAY)
OPEN_STATUSES = frozenset({LeadStatus.ASSIGNED.value, LeadStatus.CONTACTED.value})


@dataclass
class RepCoverage:
    """What a rep covers and how many open leads they hold, as generation sees it."""

    rep_id: int
    user_id: int
    countries: tuple[str, ...]
    tiers: tuple[str, ...]
    industries: tuple[str, ...]
    capacity: int
    open_leads: int = 0

    def covers(self, *, country: str, tier: str, industry: str) -> bool:
        # The demo's territories are written in routing's kept form.
        return coverage_holds(self, country=country, tier=tier, industry=industry)

    def has_room(self) -> bool:
        # Demo leads fill at most half of a rep's capacity, so routing in the
        # demo still has somewhere to put new PQLs.
        return self.open_leads < self.capacity // 2


@dataclass
class LeadHistory:
    """An account's lead status, owner, assignment time and status changes
    (rows in STATUS_CHANGE_COLUMNS order), oldest first."""

    status: str = LeadStatus.SIGNED_UP.value
    owner: RepCoverage | None = None
    assigned_at: int | None = None
    changes: list[tuple] = field(default_factory=list)

    @property
    def last_change_at(self) -> int | None:
        return int(self.changes[-1][3].timestamp()) if self.changes else None

    def move(
        self,
        *,
        account_id: int,
        to_status: str,
        at: int,
        cause: str,
        reason: str,
        details: dict | None = None,
        rep: RepCoverage | None = None,
        by_rep: bool = False,
    ) -> None:
        self.changes.append(
            (
                account_id,
                self.status,
                to_status,
                when(at),
                cause,
                rep.user_id if rep is not None and by_rep else None,
                reason,
                json.dumps(details or {}),
                rep.rep_id if rep is not None else None,
            )
        )
        self.status = to_status


def rep_for(
    *, rng: random.Random, plan: AccountPlan, reps: Sequence[RepCoverage]
) -> RepCoverage | None:
    """The rep a new PQL goes to, or None when every rep who could take it is full."""
    tier = tier_for(plan.employee_count)
    covering = [
        rep for rep in reps if rep.covers(country=plan.country, tier=tier, industry=plan.industry)
    ]
    # Reps whose territory names the country first; reps covering anywhere
    # take what no territory holds.
    candidates = (
        [rep for rep in covering if plan.country in rep.countries]
        or [rep for rep in reps if plan.country in rep.countries]
        or covering
        or list(reps)
    )
    with_room = [rep for rep in candidates if rep.has_room()]
    return rng.choice(with_room) if with_room else None


def furthest_status(rng: random.Random) -> str:
    """How far the rep will take a lead, given the time (OUTCOME_SHARES)."""
    draw = rng.random()
    for status, share in OUTCOME_SHARES:
        if draw < share:
            return status
        draw -= share
    return OUTCOME_SHARES[-1][0]


def lead_history(
    *,
    rng: random.Random,
    card: Scorecard,
    account_id: int,
    plan: AccountPlan,
    turns: Iterable[Turn],
    reps: Sequence[RepCoverage],
    anchor_ts: int,
) -> LeadHistory:
    """What a live system would have recorded, all before the anchor: a PQL
    shortly after each time the account started to qualify, routed at once
    to a rep with room; back to signed up when it stopped qualifying before
    anyone took it. A rep contacts their lead within a day or two and closes
    it within weeks, as far as the time left allows."""
    history = LeadHistory()
    for turn in turns:
        # Scoring notices the turn shortly after, and never twice at once.
        at = max(turn.at, (history.last_change_at or turn.at - 1) + 1) + rng.randint(*NOTICED_AFTER)
        if at + ROUTED_AFTER[1] >= anchor_ts:
            # Not noticed yet: the first rescore after the anchor records it.
            break
        if not turn.result.qualifies:
            history.move(
                account_id=account_id,
                to_status=LeadStatus.SIGNED_UP.value,
                at=at,
                cause=StatusCause.SCORING.value,
                reason=f"No longer qualifies under {card.name}.",
            )
            continue
        explained = explain(card, turn.result)
        history.move(
            account_id=account_id,
            to_status=LeadStatus.PQL.value,
            at=at,
            cause=StatusCause.SCORING.value,
            reason="Qualified: " + "; ".join(explained["qualified_by"]),
            details={
                "definition": card.name,
                "score": turn.result.score,
                "activation": turn.result.activation,
                "qualified_by": explained["qualified_by"],
                "reasons": explained["reasons"],
            },
        )
        rep = rep_for(rng=rng, plan=plan, reps=reps)
        if rep is not None:
            assign(rng=rng, history=history, account_id=account_id, rep=rep, anchor_ts=anchor_ts)
            # An assigned lead is the rep's: its status no longer follows its score.
            break
    return history


def assign(
    *, rng: random.Random, history: LeadHistory, account_id: int, rep: RepCoverage, anchor_ts: int
) -> None:
    """The new PQL goes to `rep`, who contacts and closes it as far as the anchor allows."""
    pql_at = history.last_change_at or 0
    assigned_at = pql_at + rng.randint(*ROUTED_AFTER)
    furthest = furthest_status(rng)
    contacted_at = assigned_at + rng.randint(*CONTACTED_AFTER)
    closed_at = contacted_at + rng.randint(*CLOSED_AFTER)
    history.owner = rep
    history.assigned_at = assigned_at
    history.move(
        account_id=account_id,
        to_status=LeadStatus.ASSIGNED.value,
        at=assigned_at,
        cause=StatusCause.ROUTING.value,
        reason="Matched the rep's territory",
        details={"rep_id": rep.rep_id},
        rep=rep,
    )
    if furthest != LeadStatus.ASSIGNED.value and contacted_at < anchor_ts:
        history.move(
            account_id=account_id,
            to_status=LeadStatus.CONTACTED.value,
            at=contacted_at,
            cause=StatusCause.USER.value,
            reason=rng.choice(CONTACTED_REASONS),
            rep=rep,
            by_rep=True,
        )
        if furthest != LeadStatus.CONTACTED.value and closed_at < anchor_ts:
            reasons = (
                CONVERTED_REASONS
                if furthest == LeadStatus.CONVERTED.value
                else DISQUALIFIED_REASONS
            )
            history.move(
                account_id=account_id,
                to_status=furthest,
                at=closed_at,
                cause=StatusCause.USER.value,
                reason=rng.choice(reasons),
                rep=rep,
                by_rep=True,
            )
    if history.status in OPEN_STATUSES:
        rep.open_leads += 1
