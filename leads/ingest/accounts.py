"""Accounts from group calls: upserted by groupId (the account's external
id), their columns and traits merged in message order."""

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.utils import timezone

from ..models import Account
from .messages import Message
from .traits import merged_traits


def upsert_accounts(groups: Sequence[Message]) -> tuple[dict[str, int], set[int]]:
    """Create or update the accounts of group calls (by groupId). Returns
    every account's id by groupId, and the ids of accounts whose data changed.

    New accounts are inserted first (a concurrent request creating the same
    one is ignored), then all are locked in a fixed order and the traits
    merged in Python: few accounts per batch, so three statements at most.
    """
    if not groups:
        return {}, set()
    merged: dict[str, tuple[dict, dict, datetime]] = {}
    for message in groups:
        columns, traits, first = merged.get(message.group_id, ({}, {}, message.occurred_at))
        merged[message.group_id] = (
            {**columns, **message.columns},
            {**traits, **message.traits},
            min(first, message.occurred_at),
        )
    Account.objects.bulk_create(
        [
            Account(
                external_id=group_id,
                **{"name": group_id[:200], "signed_up_at": first, **columns},
                traits=traits,
            )
            for group_id, (columns, traits, first) in merged.items()
        ],
        ignore_conflicts=True,
    )
    accounts = list(
        Account.objects.select_for_update()
        .filter(external_id__in=list(merged))
        .order_by("external_id")
    )
    changed, fields = [], set()
    now = timezone.now()
    for account in accounts:
        columns, traits, _ = merged[account.external_id]
        differ = {name for name, value in columns.items() if getattr(account, name) != value}
        new_traits = merged_traits(account.traits, traits)
        if new_traits != account.traits:
            differ.add("traits")
        if differ:
            for name in differ - {"traits"}:
                setattr(account, name, columns[name])
            account.traits = new_traits
            account.updated_at = now
            changed.append(account)
            fields |= differ
    if changed:
        Account.objects.bulk_update(changed, sorted(fields | {"updated_at"}))
    return {account.external_id: account.pk for account in accounts}, {a.pk for a in changed}


def known_accounts(group_ids: Iterable[str]) -> dict[str, int]:
    """Account id by groupId (external id), of the accounts that exist."""
    group_ids = sorted(group_ids)
    if not group_ids:
        return {}
    return dict(Account.objects.filter(external_id__in=group_ids).values_list("external_id", "pk"))
