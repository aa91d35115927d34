"""The lab's figures as pure functions of plain values: lift of a behaviour,
a backtest of a scorecard over accounts with known outcomes, and the what-if
comparison of two sets of results. No database access here."""

from collections.abc import Iterable, Mapping
from datetime import datetime
from statistics import median

from leads.models import OPEN_LEAD_STATUSES, LeadStatus

from ..engine import Result, Scorecard, evaluate, explain
from ..wording import lower_first
from .history import Timeline

# Fewer accounts than this on either side and the rate is noise.
SMALL_SAMPLE = 30


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def lift_row(*, label: str, kind: str, did: int, did_converted: int, total: int, total_converted: int) -> dict:
    """Conversion of the accounts that did it against those that did not.

    lift = rate(did) / rate(did not); None when either rate is undefined or
    nobody without it converted (then `unbounded` says whether anyone with
    it did).
    """
    didnt, didnt_converted = total - did, total_converted - did_converted
    rate_did = did_converted / did if did else None
    rate_didnt = didnt_converted / didnt if didnt else None
    lift = rate_did / rate_didnt if rate_did is not None and rate_didnt else None
    return {
        "label": label,
        "kind": kind,
        "did": did,
        "did_converted": did_converted,
        "didnt": didnt,
        "didnt_converted": didnt_converted,
        "rate_did": None if rate_did is None else round(100 * rate_did, 2),
        "rate_didnt": None if rate_didnt is None else round(100 * rate_didnt, 2),
        "lift": None if lift is None else round(lift, 2),
        "unbounded": bool(rate_did and rate_didnt == 0),
        "small_sample": did < SMALL_SAMPLE or didnt < SMALL_SAMPLE,
    }


def by_lift(rows: Iterable[dict]) -> list[dict]:
    """Highest lift first; unbounded above every number, undefined last."""

    def key(row):
        if row["unbounded"]:
            return (0, 0.0, row["label"])
        if row["lift"] is None:
            return (2, 0.0, row["label"])
        return (1, -row["lift"], row["label"])

    return sorted(rows, key=key)


def replay(card: Scorecard, timeline: Timeline) -> tuple[datetime | None, Result]:
    """When the scorecard would first have qualified the account (the first
    checkpoint at which it does, or None), and its result just before the outcome."""
    first = None
    for moment, facts in timeline.states[:-1]:
        if evaluate(card, facts).qualifies:
            first = moment
            break
    final = evaluate(card, timeline.states[-1][1])
    if first is None and final.qualifies:
        first = timeline.states[-1][0]
    return first, final


def backtest(card: Scorecard, timelines: Iterable[Timeline]) -> dict:
    """Among accounts with a known outcome: how many converters the scorecard
    flags before their outcome (recall), how many it flags that converted
    (precision), and the median time from flagging to converting."""
    known = converters = flagged = hits = 0
    lead_seconds = []
    criteria: dict[int, list[int]] = {}  # rule id -> [held, held and converted]
    for timeline in timelines:
        converted = timeline.outcome.converted
        known += 1
        converters += converted
        first, final = replay(card, timeline)
        for rule_id, held, _observed, _points in final.explanation["criteria"]:
            tally = criteria.setdefault(rule_id, [0, 0])
            if held:
                tally[0] += 1
                tally[1] += converted
        if first is None:
            continue
        flagged += 1
        if converted:
            hits += 1
            lead_seconds.append((timeline.outcome.decided_at - first).total_seconds())
    return {
        "definition": card.name,
        "known": known,
        "converters": converters,
        "flagged": flagged,
        "flagged_converters": hits,
        "recall": percent(hits, converters),
        "precision": percent(hits, flagged),
        "base_rate": percent(converters, known),
        "median_lead_days": round(median(lead_seconds) / 86400, 2) if lead_seconds else None,
        "criteria": [
            lift_row(
                label=rule.label,
                kind=f"criterion ({rule.role})",
                did=criteria.get(rule.id, [0, 0])[0],
                did_converted=criteria.get(rule.id, [0, 0])[1],
                total=known,
                total_converted=converters,
            )
            for rule in card.rules
        ],
    }


def what_if(
    card: Scorecard,
    results: Iterable[Result],
    *,
    live: Mapping[int, bool],
    statuses: Mapping[int, str],
    examples: int = 10,
) -> dict:
    """The draft's results against the live ones (the stored result of the
    active definition; an account without one does not qualify).

    Scoring moves only signed-up accounts to PQL and only unassigned PQLs
    back, so of those that would newly qualify or drop out, it says how
    many would change status.
    """
    qualifying = open_leads = newly = dropping = becoming_pql = leaving_pql = 0
    newly_examples, dropping_examples = [], []
    for result in results:
        before, after = live.get(result.account_id, False), result.qualifies
        qualifying += after
        open_leads += after and statuses.get(result.account_id) in OPEN_LEAD_STATUSES
        if after and not before:
            newly += 1
            becoming_pql += statuses.get(result.account_id) == LeadStatus.SIGNED_UP
            newly_examples.append(result)
        elif before and not after:
            dropping += 1
            leaving_pql += statuses.get(result.account_id) == LeadStatus.PQL
            dropping_examples.append(result)

    def sample(found: list[Result]) -> list[dict]:
        # Signed-up and PQL accounts first (their status would move), then by score.
        found.sort(
            key=lambda r: (statuses.get(r.account_id) not in (LeadStatus.SIGNED_UP, LeadStatus.PQL), -r.score)
        )
        return [
            {
                "account_id": result.account_id,
                "status": statuses.get(result.account_id, ""),
                "tier": str(result.tier),
                "score": result.score,
                "activation": result.activation,
                "why": why(card, result),
            }
            for result in found[:examples]
        ]

    return {
        "live_qualifying": sum(1 for qualifies in live.values() if qualifies),
        "draft_qualifying": qualifying,
        "draft_open_leads": open_leads,
        "newly": newly,
        "becoming_pql": becoming_pql,
        "dropping": dropping,
        "leaving_pql": leaving_pql,
        "newly_examples": sample(newly_examples),
        "dropping_examples": sample(dropping_examples),
    }


def why(card: Scorecard, result: Result) -> str:
    """In a few words, why the draft qualifies the account, or why not."""
    words = explain(card, result)
    if result.qualifies:
        return "; ".join(words["qualified_by"])
    failed_gates = [c["label"] for c in words["criteria"] if c["role"] == "gate" and not c["held"]]
    if failed_gates:
        return "Not yet: " + ", ".join(lower_first(label) for label in failed_gates)
    reasons = []
    if card.counts_score:
        reasons.append(f"Score {result.score}, needs {card.score_threshold}")
    threshold = words["activation_threshold"]
    if result.activation is not None and threshold is not None:
        reasons.append(f"activation {result.activation}%, needs {threshold}%")
    return "; ".join(reasons) or "No trigger fired"
