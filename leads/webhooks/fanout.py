"""The webhooks channel of the lead outbox: claim the messages webhooks
have not handled yet, turn each into one delivery per endpoint that wants it,
and mark it (sent: deliveries exist; skipped: no endpoint wants it), all in
one transaction. A worker killed mid-batch rolls back; the next pass takes
the same messages again, and the unique (webhook-id, endpoint) pair keeps
it at one delivery each."""

import uuid
from dataclasses import dataclass, field

from django.db import transaction

from leads.models import DeliveryState, MessageKind, OutboxMessage, SalesRep
from leads.outbox import has_batches, unfold_batches

from .delivery import fan_out
from .events import EVENT_TYPE_NAMES, event_type_for
from .models import Endpoint
from .payloads import Message

CLAIM_BATCH = 500
# Messages for people only: not a lead change a CRM hears of.
NOT_FOR_WEBHOOKS = frozenset({MessageKind.ENDPOINT_DISABLED})


@dataclass
class FannedOut:
    messages: int = 0
    deliveries: dict[int, int] = field(default_factory=dict)


def person(rep: SalesRep | None) -> dict | None:
    if rep is None:
        return None
    return {"name": rep.user.get_full_name() or rep.user.get_username(), "email": rep.user.email}


def messages_of(rows: list[OutboxMessage]) -> list[Message]:
    """The outbox rows as webhook messages: the change's own snapshot (its
    payload), and who held the lead after it and before it (a hand-over)."""
    rep_ids = {row.rep_id for row in rows if row.rep_id} | {
        row.payload["previous_rep_id"] for row in rows if row.payload.get("previous_rep_id")
    }
    reps = {rep.pk: rep for rep in SalesRep.objects.filter(pk__in=rep_ids).select_related("user")}
    messages = []
    for row in rows:
        told = row.change
        change = {"kind": row.kind, **{k: v for k, v in told.items() if k != "previous_rep_id"}}
        change["rep"] = person(reps.get(row.rep_id) if row.rep_id is not None else None)
        if "previous_rep_id" in told:
            change["previous_rep"] = person(reps.get(told["previous_rep_id"]))
        messages.append(
            Message(
                id=row.webhook_id,
                type=event_type_for(row.kind),
                account_id=row.account_id,
                occurred_at=row.created_at,
                change=change,
            )
        )
    return messages


def name(rows: list[OutboxMessage]) -> None:
    """Give the messages a webhook wants their webhook-id, once: the writers
    leave it out (most messages never reach a webhook), and it is saved in
    the transaction that makes their deliveries, so it never changes."""
    unnamed = [row for row in rows if row.message_id is None]
    for row in unnamed:
        row.message_id = uuid.uuid4()
    OutboxMessage.objects.bulk_update(unnamed, ["message_id"], batch_size=CLAIM_BATCH)


def fan_out_pending(*, limit: int = CLAIM_BATCH) -> FannedOut:
    """One batch of the outbox in the order the changes were made, skipping
    rows another worker holds. The outbox's batches are unfolded first, so a
    change's messages go out before those of a later change, even when the
    earlier one was written as a batch."""
    unfold_batches()
    with transaction.atomic():
        rows = list(
            OutboxMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("status_change")
            .filter(webhook_state=DeliveryState.PENDING)
            .order_by("created_at", "pk")[:limit]
        )
        if not rows:
            return FannedOut()
        endpoints = list(Endpoint.objects.filter(is_active=True).only("event_types", "created_at"))
        candidates = [
            row for row in rows
            if row.kind not in NOT_FOR_WEBHOOKS and event_type_for(row.kind) in EVENT_TYPE_NAMES
        ]
        wanted = [
            row for row in candidates
            if any(e.wants(event_type_for(row.kind)) and row.created_at >= e.created_at for e in endpoints)
        ]
        name(wanted)
        deliveries = fan_out(messages_of(wanted)) if wanted else {}
        sent = {row.pk for row in wanted}
        OutboxMessage.objects.filter(pk__in=sent).update(webhook_state=DeliveryState.SENT)
        OutboxMessage.objects.filter(pk__in=[row.pk for row in rows if row.pk not in sent]).update(
            webhook_state=DeliveryState.SKIPPED
        )
    return FannedOut(messages=len(rows), deliveries=deliveries)


def has_pending() -> bool:
    """Messages to fan out, or batches to unfold into some."""
    return OutboxMessage.objects.filter(webhook_state=DeliveryState.PENDING).exists() or has_batches()
