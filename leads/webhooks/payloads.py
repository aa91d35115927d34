"""Webhook bodies: versioned JSON built with orjson, one per message, the
same bytes for every endpoint and every attempt.

    {"type": "lead.qualified", "version": 1, "id": "<webhook-id>",
     "timestamp": "<when it happened, ISO 8601>", "data": {...}}
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from django.conf import settings
from django.urls import reverse

from leads.models import Account
from scoring.selectors import explained_scores

from .events import PAYLOAD_VERSION


@dataclass(frozen=True)
class Message:
    """What a webhook announces: an outbox message, as delivery reads it."""

    id: str
    type: str
    account_id: int | None
    occurred_at: datetime
    change: dict = field(default_factory=dict)


def account_link(account_id: int) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("account", args=[account_id])


def account_data(accounts: dict[int, Account], words: dict[int, dict], account_id: int) -> dict | None:
    account = accounts.get(account_id)
    if account is None:
        return None
    score = getattr(account, "score", None)  # None when never scored
    owner = account.owner
    explanation = words.get(account_id)
    reasons = explanation["reasons"] if explanation else []
    return {
        "id": account.pk,
        "external_id": account.external_id,
        "name": account.name,
        "domain": account.domain,
        "industry": account.industry,
        "country": account.country,
        "employee_count": account.employee_count,
        "plan": account.plan,
        "status": account.status,
        "tier": score.tier if score else None,
        "score": score.score if score else None,
        "activation": score.activation if score else None,
        "qualifies": score.qualifies if score else False,
        "owner": (
            {"name": owner.user.get_full_name() or owner.user.get_username(), "email": owner.user.email}
            if owner
            else None
        ),
        "sla_due_at": account.sla_due_at,
        "reasons": reasons,
        "reasons_text": "; ".join(reasons),
        "qualified_by": explanation["qualified_by"] if explanation else [],
        "explanation": explanation,
        "link": account_link(account.pk),
    }


def load_accounts(account_ids: set[int]) -> tuple[dict[int, Account], dict[int, dict]]:
    """The accounts with their owner and score, and their explanations in
    words: a few queries, whatever the number of messages."""
    accounts = {
        account.pk: account
        for account in Account.objects.filter(pk__in=account_ids).select_related(
            "owner__user", "score"
        )
    }
    scores = [score for account in accounts.values() if (score := getattr(account, "score", None))]
    return accounts, explained_scores(scores)


def build_bodies(messages: Sequence[Message]) -> dict[str, bytes]:
    """Each message's body, keyed by its id."""
    accounts, words = load_accounts({m.account_id for m in messages if m.account_id is not None})
    return {
        message.id: orjson.dumps(
            {
                "type": message.type,
                "version": PAYLOAD_VERSION,
                "id": message.id,
                "timestamp": message.occurred_at,
                "data": {
                    "account": account_data(accounts, words, message.account_id)
                    if message.account_id is not None
                    else None,
                    "change": message.change,
                },
            },
            option=orjson.OPT_NON_STR_KEYS,
        )
        for message in messages
    }
