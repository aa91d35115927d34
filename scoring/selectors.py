"""Reads of scoring results in words, for pages, the admin and the API."""

from .engine import explain
from .models import AccountScore, Definition
from .scorecards import scorecard_for


def explained_scores(scores: list[AccountScore]) -> dict[int, dict]:
    """Each score's explanation in words, keyed by account id.

    One scorecard per definition involved (a few queries, whatever the count).
    """
    definition_ids = {score.definition_id for score in scores if score.definition_id}
    cards = {
        definition.pk: scorecard_for(definition)
        for definition in Definition.objects.filter(pk__in=definition_ids).prefetch_related(
            "criteria", "milestones"
        )
    }
    return {
        score.account_id: explain(cards[score.definition_id], score.as_result())
        for score in scores
        if score.definition_id in cards
    }


def explained_score(score: AccountScore) -> dict | None:
    return explained_scores([score]).get(score.account_id)
