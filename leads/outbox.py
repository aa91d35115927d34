"""The transactional outbox: the lead core writes a message for each change
worth announcing, in the change's own transaction; delivery (email, Slack,
webhooks) reads the messages after commit.

A write announcing BATCH_FROM accounts or more (a rescore qualifying
thousands) appends one OutboxBatch row for them all, still in the change's
transaction; every channel unfolds the batches into messages before it reads
(`unfold_batches`).

Delivery lives above the lead core, so the core cannot call it; the
channels register a wake-up here instead (`on_messages_written`), which runs
once the writing transaction commits. A wake-up that fails (Redis down) loses
nothing: the messages wait in the table for the periodic delivery pass.
"""

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from django.db import connection, transaction
from django.db.models import Case, F, Max, Q, Value, When
from django.utils import timezone

from .models import (
    FOR_PEOPLE,
    FOR_PEOPLE_CONDITION,
    Account,
    DeliveryState,
    LeadStatus,
    MessageKind,
    OutboxBatch,
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

WRITE_BATCH = 1000
# A write of at least this many notices (a rescore chunk qualifying
# thousands) appends them as one OutboxBatch row (PostgreSQL), unfolded into
# messages by the first delivery pass: the rescore pays for one row instead
# of thousands. Fewer are written as messages at once.
BATCH_FROM = 100
# Batches one delivery pass unfolds (each holds at most a rescore chunk).
UNFOLD_LIMIT = 20

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


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def version_key(version: datetime | str | None) -> str:
    """A dedupe key's version part: a time as microseconds since the epoch
    (exact, and the same whatever its time zone)."""
    if isinstance(version, datetime):
        return str((version - EPOCH) // timedelta(microseconds=1))
    return version or "-"


@dataclass(frozen=True)
class Announcement:
    """One piece of news to announce. `version` is the state it concerns
    (the account's updated_at, a lead's assignment time), so two writers
    announcing the same news build the same dedupe key; `keyed=False` for a
    status change, which happens once and needs none."""

    kind: MessageKind | str
    account_id: int | None
    version: datetime | str | None
    rep_id: int | None = None
    team_id: int | None = None
    status_change_id: int | None = None
    payload: dict = field(default_factory=dict)
    keyed: bool = True

    @property
    def dedupe_key(self) -> str | None:
        if not self.keyed:
            return None
        return (
            f"{MessageKind(self.kind).value}:{self.account_id or '-'}:{version_key(self.version)}"
        )


@dataclass(frozen=True)
class Notice:
    """The message a status transition makes, written by the status writer
    in the statement that records the transition (leads.services). Its
    payload is `extra`: the transition's from, to and reason are the status
    change's, which the message points to (OutboxMessage.change). A keyed
    notice (a PQL left unassigned, with no change of status) is not written
    again while the account stays as it was (see notices_sql)."""

    kind: MessageKind
    rep_id: int | None = None
    team_id: int | None = None
    extra: dict = field(default_factory=dict)
    keyed: bool = False

    def __post_init__(self):
        if self.keyed and self.kind not in FOR_PEOPLE:
            raise ValueError(f"Only news for people is kept from repeating; {self.kind} is for webhooks.")


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
            f"INSERT INTO {table} (kind, dedupe_key, account_id, rep_id, team_id, "  # noqa: S608
            "status_change_id, payload, created_at, email_state, slack_state, webhook_state, attempts, "
            "last_error) SELECT e ->> 0, e ->> 1, (e ->> 2)::bigint, (e ->> 3)::bigint, "
            "(e ->> 4)::bigint, (e ->> 5)::bigint, e -> 6, %s, e ->> 7, e ->> 7, %s, 0, '' "
            "FROM jsonb_array_elements(%s::jsonb) AS e ON CONFLICT DO NOTHING",
            [now, DeliveryState.PENDING.value, json_text(rows)],
        )


def notices_sql(source: str, *, check_told: bool = True) -> str:
    """The INSERT that writes the messages of the rows of `source` (SQL with
    the columns kind, account_id, rep_id, team_id, status_change_id,
    payload, keyed and version): states made by the database, so that a
    rescore announcing thousands of changes builds nothing per message in
    Python. A keyed row is written only if no message of its kind for its
    account was made since the account last changed (`version`): the
    writers hold the account's lock, so they see each other's, and the
    cooldown's index answers it, where a unique key would cost an index of
    its own. Without `check_told`, every row is written (the caller
    checked). Takes the parameters %(now)s and %(for_people)s
    (notice_parameters)."""
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    told = (
        f"WHERE NOT EXISTS (SELECT FROM {table} AS told WHERE n.keyed AND told.account_id = n.account_id "
        "AND told.kind = n.kind AND told.kind = ANY(%(for_people)s) AND told.created_at >= n.version)"
    )
    return (
        f"INSERT INTO {table} (kind, account_id, rep_id, team_id, "  # noqa: S608
        "status_change_id, payload, created_at, email_state, slack_state, webhook_state, attempts, last_error) "
        "SELECT n.kind, n.account_id, n.rep_id, n.team_id, n.status_change_id, n.payload, %(now)s, n.state, "
        f"n.state, '{DeliveryState.PENDING.value}', 0, '' "
        f"FROM (SELECT *, CASE WHEN kind = ANY(%(for_people)s) THEN '{DeliveryState.PENDING.value}' "
        f"ELSE '{DeliveryState.SKIPPED.value}' END AS state FROM ({source}) AS source) AS n "
        + (told if check_told else "")
    )


def notice_parameters(now: datetime) -> dict:
    return {"now": now, "for_people": sorted(kind.value for kind in FOR_PEOPLE)}


def notice_announcements(
    notices: Iterable[tuple[Notice, int, int | None, datetime | None, dict]],
) -> list[Announcement]:
    """notices_sql's messages as Announcements, for the databases that write
    them through the ORM: (notice, account, status change, version, payload)
    each."""
    return [
        Announcement(
            kind=notice.kind,
            account_id=account_id,
            version=version,
            rep_id=notice.rep_id,
            team_id=notice.team_id,
            status_change_id=status_change_id,
            payload=payload,
            keyed=notice.keyed,
        )
        for notice, account_id, status_change_id, version, payload in notices
    ]


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


SAME_NEWS_SQL = """
SELECT %(kind)s::text AS kind, account.id AS account_id, %(rep_id)s::bigint AS rep_id,
       %(team_id)s::bigint AS team_id, NULL::bigint AS status_change_id, %(payload)s::jsonb AS payload,
       true AS keyed, account.updated_at AS version
FROM {account} AS account WHERE account.id = ANY(%(account_ids)s::bigint[])
"""


def batch_sql(source: str) -> str:
    """The INSERT that writes the rows of `source` (notices_sql's columns)
    as one OutboxBatch row, for delivery to unfold into messages: a rescore
    announcing thousands of changes writes one row. Takes %(now)s."""
    batch = connection.ops.quote_name(OutboxBatch._meta.db_table)
    return (
        f"INSERT INTO {batch} (notices, created_at) "  # noqa: S608
        "SELECT json_agg(json_build_array(n.kind, n.account_id, n.rep_id, n.team_id, n.status_change_id, "
        "n.payload, n.keyed, n.version))::text, %(now)s "
        f"FROM ({source}) AS n HAVING count(*) > 0"
    )


def notices_writer(count: int) -> Callable[[str], str]:
    """How `count` notices are written: as messages (notices_sql), or from
    BATCH_FROM on as one batch (batch_sql)."""
    return batch_sql if count >= BATCH_FROM else notices_sql


def announce_same_news(account_ids: list[int], notice: Notice, *, payload: dict, now: datetime) -> None:
    """The same keyed news about accounts that stay as they are (no history
    row): one message each, not again while an account stays as it was
    (its updated_at is the version); on PostgreSQL in one statement. Wakes
    the channels once the transaction commits."""
    if not notice.keyed:
        raise ValueError("Only news kept from repeating is announced by version.")
    if connection.vendor != "postgresql":  # announce() wakes the channels
        versions = Account.objects.filter(pk__in=account_ids).values_list("pk", "updated_at")
        announce(
            notice_announcements((notice, pk, None, version, payload) for pk, version in versions), now=now
        )
        return
    transaction.on_commit(wake_channels, robust=True)
    write = notices_writer(len(account_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            write(SAME_NEWS_SQL.format(account=connection.ops.quote_name(Account._meta.db_table))),
            {
                **notice_parameters(now),
                "kind": str(notice.kind),
                "rep_id": notice.rep_id,
                "team_id": notice.team_id,
                "payload": json_text(payload),
                "account_ids": list(account_ids),
            },
        )


UNFOLD_SOURCE = """
SELECT e ->> 0 AS kind, account.id AS account_id, (e ->> 2)::bigint AS rep_id, (e ->> 3)::bigint AS team_id,
       (e ->> 4)::bigint AS status_change_id, e -> 5 AS payload
FROM jsonb_array_elements(%(notices)s::jsonb) WITH ORDINALITY AS t(e, position)
JOIN {account} AS account ON account.id = (e ->> 1)::bigint
ORDER BY t.position
"""


def unfold_batches(*, limit: int = UNFOLD_LIMIT) -> int:
    """Write the waiting batches' messages, oldest batch first, and delete
    the batches: every channel calls this before it reads the outbox. Up to
    `limit` batches a transaction, until none waits. A second caller waits
    on the batches' row locks and then finds them gone, so each batch is
    unfolded once. The messages take the batch's time; an account deleted
    meanwhile is left out. Returns how many messages were written."""
    if connection.vendor != "postgresql":
        return 0  # only PostgreSQL's writers batch
    written, unfolded = 0, limit
    while unfolded == limit:
        with transaction.atomic():
            batches = list(OutboxBatch.objects.select_for_update().order_by("pk")[:limit])
            written += sum(unfold(batch) for batch in batches)
            OutboxBatch.objects.filter(pk__any=[batch.pk for batch in batches]).delete()
        unfolded = len(batches)
    return written


def unfold(batch: OutboxBatch) -> int:
    """One batch's messages, less those already told (told_already)."""
    notices = orjson.loads(batch.notices)
    told = told_already(notices)
    if len(told) == len(notices):
        return 0
    # The stored text as it is, unless some are left out.
    fresh = json_text([n for position, n in enumerate(notices) if position not in told]) if told else batch.notices
    source = UNFOLD_SOURCE.format(account=connection.ops.quote_name(Account._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(notices_sql(source, check_told=False), {**notice_parameters(batch.created_at), "notices": fresh})
        return cursor.rowcount


def told_already(notices: list[list]) -> set[int]:
    """The positions of a batch's keyed notices whose account was told the
    same news since the notice's version. Read in one query per kind over
    the accounts' ids, before the insert: notices_sql's check, correlated
    with each inserted row, could rescan the table being filled for every
    row while its statistics still say it is empty."""
    keyed: dict[str, list[tuple[int, int, datetime]]] = {}
    for position, (kind, account_id, _, _, _, _, is_keyed, version) in enumerate(notices):
        if is_keyed and version is not None:
            keyed.setdefault(kind, []).append((position, account_id, datetime.fromisoformat(version)))
    told: set[int] = set()
    for kind, items in keyed.items():
        last = dict(
            OutboxMessage.objects.filter(
                FOR_PEOPLE_CONDITION, kind=kind, account__any=[account_id for _, account_id, _ in items]
            )
            .values("account_id")
            .annotate(last=Max("created_at"))
            .values_list("account_id", "last")
            .order_by()
        )
        told.update(position for position, account_id, version in items if last.get(account_id, EPOCH) >= version)
    return told


def has_batches() -> bool:
    return OutboxBatch.objects.exists()


def status_notice(*, from_status: str, to_status: str, rep_id: int | None) -> Notice | None:
    """The message a change of status makes, if any."""
    kind = STATUS_KINDS.get(LeadStatus(to_status))
    if kind is None or from_status == to_status:
        return None
    return Notice(kind=kind, rep_id=rep_id)


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
