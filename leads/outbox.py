"""The transactional outbox: the lead core writes a message for each change
worth announcing, in the change's own transaction; delivery (email, Slack,
webhooks) reads the messages after commit.

Delivery lives above the lead core, so the core cannot call it; the
channels register a wake-up here instead (`on_messages_written`), which runs
once the writing transaction commits. A wake-up that fails (Redis down) loses
nothing: the messages wait in the table for the periodic delivery pass.
"""

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from .models import (
    Account,
    DeliveryState,
    LeadStatus,
    MessageKind,
    OutboxMessage,
    SalesRep,
    away_at,
)

log = logging.getLogger(__name__)

# What each status a change moves to announces (None: nothing).
STATUS_KINDS = {
    LeadStatus.PQL: MessageKind.QUALIFIED,
    LeadStatus.SIGNED_UP: MessageKind.DROPPED,
    LeadStatus.ASSIGNED: MessageKind.ASSIGNED,
    LeadStatus.CONTACTED: MessageKind.CONTACTED,
    LeadStatus.CONVERTED: MessageKind.CONVERTED,
    LeadStatus.DISQUALIFIED: MessageKind.DISQUALIFIED,
}

# The kinds a person hears about by email or Slack; the rest are for the
# CRM (webhooks) only, and their email and Slack states start as skipped.
FOR_REPS = frozenset({MessageKind.ASSIGNED, MessageKind.REASSIGNED, MessageKind.SLA_DUE_SOON})
FOR_MANAGERS = frozenset(
    {
        MessageKind.UNASSIGNED,
        MessageKind.UNASSIGNED_TEAM_FULL,
        MessageKind.SLA_PASSED,
        MessageKind.ENDPOINT_DISABLED,
    }
)
FOR_PEOPLE = FOR_REPS | FOR_MANAGERS

WRITE_BATCH = 1000

# What orjson refuses (an integer beyond 64 bits, say), the standard encoder writes.
STANDARD_JSON = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def json_text(value) -> str:
    """JSON for a set-based statement's one parameter (the lead core's
    writers send thousands of rows as one): orjson, several times faster
    than the standard encoder, which takes what orjson refuses."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return STANDARD_JSON.encode(value)

_wake_ups: list[Callable[[], object]] = []


def on_messages_written(wake_up: Callable[[], object]) -> None:
    """Register a channel's wake-up, called after a transaction that wrote
    messages commits (never for one that rolled back). Registered once, at
    app start."""
    if wake_up not in _wake_ups:
        _wake_ups.append(wake_up)


def wake_channels() -> None:
    for wake_up in _wake_ups:
        try:
            wake_up()
        except Exception:  # one channel's wake-up must not stop another's
            log.exception("Outbox wake-up %s failed; the periodic pass delivers instead", wake_up)


@dataclass(frozen=True)
class Announcement:
    """One change to announce. `version` is the account's state before the
    change (its updated_at), so two writers announcing the same change build
    the same dedupe key."""

    kind: MessageKind | str
    account_id: int | None
    version: datetime | str | None
    rep_id: int | None = None
    team_id: int | None = None
    status_change_id: int | None = None
    payload: dict = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        version = self.version.isoformat() if isinstance(self.version, datetime) else self.version
        return f"{MessageKind(self.kind).value}:{self.account_id or '-'}:{version or '-'}"


def announce(announcements: Iterable[Announcement], *, now: datetime | None = None) -> int:
    """Append the messages in the caller's transaction; a message already
    written for the same change is skipped (ON CONFLICT DO NOTHING on the
    dedupe key). Wakes the channels once the transaction commits. Returns how
    many were offered."""
    now = now or timezone.now()
    items = list(announcements)
    if items:
        with transaction.atomic(savepoint=False):
            insert = insert_as_json if connection.vendor == "postgresql" else insert_as_models
            for start in range(0, len(items), WRITE_BATCH):
                insert(items[start : start + WRITE_BATCH], now=now)
            transaction.on_commit(wake_channels, robust=True)
    return len(items)


def people_state(kind: MessageKind | str) -> DeliveryState:
    return DeliveryState.PENDING if MessageKind(kind) in FOR_PEOPLE else DeliveryState.SKIPPED


def insert_as_json(items: list[Announcement], *, now: datetime) -> None:
    """PostgreSQL: one INSERT ... SELECT over a JSON array, ON CONFLICT DO
    NOTHING; ids made by the server. A rescore qualifying thousands of
    accounts writes their messages at a third of bulk_create's cost."""
    rows = [
        [
            MessageKind(item.kind).value,
            item.dedupe_key,
            item.account_id,
            item.rep_id,
            item.team_id,
            item.status_change_id,
            item.payload,
            people_state(item.kind).value,
        ]
        for item in items
    ]
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (message_id, kind, dedupe_key, account_id, rep_id, team_id, "  # noqa: S608
            "status_change_id, payload, created_at, email_state, slack_state, webhook_state, attempts, "
            "last_error) SELECT gen_random_uuid(), e ->> 0, e ->> 1, (e ->> 2)::bigint, (e ->> 3)::bigint, "
            "(e ->> 4)::bigint, (e ->> 5)::bigint, e -> 6, %s, e ->> 7, e ->> 7, %s, 0, '' "
            "FROM jsonb_array_elements(%s::jsonb) AS e ON CONFLICT DO NOTHING",
            [now, DeliveryState.PENDING.value, json_text(rows)],
        )


def insert_as_models(items: list[Announcement], *, now: datetime) -> None:
    OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                kind=MessageKind(item.kind),
                dedupe_key=item.dedupe_key,
                account_id=item.account_id,
                rep_id=item.rep_id,
                team_id=item.team_id,
                status_change_id=item.status_change_id,
                payload=item.payload,
                created_at=now,
                email_state=people_state(item.kind),
                slack_state=people_state(item.kind),
            )
            for item in items
        ],
        ignore_conflicts=True,
    )


def status_announcement(
    *,
    account_id: int,
    from_status: str,
    to_status: str,
    version,
    rep_id: int | None,
    status_change_id: int | None,
    reason: str = "",
) -> Announcement | None:
    """The message a status change makes, if any."""
    kind = STATUS_KINDS.get(LeadStatus(to_status))
    if kind is None or from_status == to_status:
        return None
    return Announcement(
        kind=kind,
        account_id=account_id,
        version=version,
        rep_id=rep_id,
        status_change_id=status_change_id,
        payload={"from_status": from_status, "to_status": to_status, "reason": reason},
    )


def announce_sla(*, now: datetime | None = None, warning: timedelta, lookback: timedelta) -> int:
    """Set-based: a message for each assigned lead whose contact deadline is
    within `warning` (sla_due_soon, to the rep, or to the manager when the rep
    is away) and each whose deadline passed within `lookback` without contact
    (sla_passed, to the manager). One of each per assignment: the key holds
    the time of the assignment. Returns how many were offered."""
    now = now or timezone.now()
    due = (
        Account.objects.filter(
            status=LeadStatus.ASSIGNED,
            owner__isnull=False,
            sla_due_at__gte=now - lookback,
            sla_due_at__lt=now + warning,
        )
        .order_by("pk")
        .values_list("pk", "owner_id", "assigned_at", "sla_due_at")
    )
    rows = list(due)
    owners = {owner_id for _, owner_id, _, _ in rows}
    away = set(SalesRep.objects.filter(away_at(now), pk__in=owners).values_list("pk", flat=True))
    announcements = [
        Announcement(
            kind=MessageKind.SLA_PASSED if sla_due_at <= now else MessageKind.SLA_DUE_SOON,
            account_id=account_id,
            version=assigned_at,
            rep_id=owner_id,
            payload={"sla_due_at": sla_due_at.isoformat(), "rep_away": owner_id in away},
        )
        for account_id, owner_id, assigned_at, sla_due_at in rows
    ]
    return announce(announcements, now=now)


def requeue(message_ids: Iterable[int]) -> int:
    """Send these messages again to people: a channel that failed goes back
    to pending with a fresh set of retries, and one waiting on a backoff is
    due now. Held (digest), sent and skipped channels are left alone. Wakes
    the channels once the transaction commits. Returns how many messages
    were requeued. (Webhooks keep their own per-endpoint deliveries.)"""
    stuck = [DeliveryState.PENDING, DeliveryState.FAILED]
    with transaction.atomic(savepoint=False):
        requeued = (
            OutboxMessage.objects.filter(pk__in=list(message_ids))
            .filter(Q(email_state__in=stuck) | Q(slack_state__in=stuck))
            .update(
                email_state=Case(
                    When(email_state=DeliveryState.FAILED, then=Value(DeliveryState.PENDING.value)),
                    default=F("email_state"),
                ),
                slack_state=Case(
                    When(slack_state=DeliveryState.FAILED, then=Value(DeliveryState.PENDING.value)),
                    default=F("slack_state"),
                ),
                attempts=0,
                next_attempt_at=None,
                last_error="",
            )
        )
        if requeued:
            transaction.on_commit(wake_channels, robust=True)
    return requeued
