"""The builder's live preview: what a definition being edited would do if
it were active now, before it is saved. The lab's what-if without the
backtest, so it answers in about the time a rescore takes to read."""

from django.utils import timezone

from ..engine import Scorecard, evaluate
from ..facts import gather_facts
from ..models import AccountScore
from .analysis import what_if


def preview(card: Scorecard) -> dict:
    """Would qualify N now: A newly, B no longer, K of them open leads."""
    book = gather_facts(card, now=timezone.now())
    live = dict(AccountScore.objects.values_list("account_id", "qualifies"))
    found = what_if(card, (evaluate(card, facts) for facts in book.facts), live=live, statuses=book.statuses, examples=0)
    return {
        key: found[key]
        for key in ("live_qualifying", "draft_qualifying", "draft_open_leads", "newly", "dropping", "leaving_pql")
    }
