"""Services that change lead data.

Lead statuses are written by one function, record_transitions (set-based,
any number of accounts), which appends each change's history row;
change_status (one account), move_accounts (scoring's moves) and the
assignment services are built on it."""

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .models import (
    OPEN_LEAD_STATUSES,
    Account,
    Event,
    LeadStatus,
    MessageKind,
    Note,
    Plan,
    SalesRep,
    StatusCause,
    StatusChange,
)
from .outbox import (
    Notice,
    announce,
    announce_same_news,
    json_text,
    notice_announcements,
    notice_parameters,
    notices_writer,
    status_notice,
    wake_channels,
)


@dataclass(frozen=True)
class Transition:
    """One account's status change as recorded: from, to, why, and the owner after it."""

    account_id: int
    from_status: LeadStatus
    to_status: LeadStatus
    reason: str = ""
    details: dict = field(default_factory=dict)
    owner_id: int | None = None
    # When it happened, if not now (outcomes imported from a CRM).
    changed_at: datetime | None = None
    # The message it makes, written with it (leads.outbox).
    notice: Notice | None = None


def record_transitions(
    transitions: Sequence[Transition], *, cause: StatusCause | str, changed_by=None, now: datetime
) -> list[StatusChange]:
    """The one writer of lead statuses: each account gets its new status (one
    UPDATE per target status), every transition its history row and each
    notice its outbox message (on PostgreSQL, from BATCH_FROM notices on,
    one outbox batch for them all), in the caller's transaction. The caller has
    locked the accounts and read their current status, so nothing is
    recorded twice. A transition to the same status only appends its row
    (e.g. why a PQL was left unassigned). One transition per account.
    Returns the rows, in the order given."""
    if not transitions:
        return []
    if connection.vendor == "postgresql":
        if any(t.notice for t in transitions):
            transaction.on_commit(wake_channels, robust=True)  # elsewhere announce() wakes them
        return record_transitions_in_one_statement(
            transitions, cause=cause, changed_by=changed_by, now=now
        )
    keyed = [t.account_id for t in transitions if t.notice and t.notice.keyed]
    versions = (
        dict(Account.objects.filter(pk__in=keyed).values_list("pk", "updated_at")) if keyed else {}
    )
    moving: dict[LeadStatus, list[int]] = {}
    for transition in transitions:
        if transition.from_status != transition.to_status:
            moving.setdefault(LeadStatus(transition.to_status), []).append(transition.account_id)
    for to_status, account_ids in moving.items():
        Account.objects.filter(pk__in=account_ids).update(status=to_status, updated_at=now)
    changes = StatusChange.objects.bulk_create(
        (
            StatusChange(
                account_id=transition.account_id,
                from_status=transition.from_status,
                to_status=transition.to_status,
                changed_at=transition.changed_at or now,
                cause=StatusCause(cause),
                changed_by=changed_by,
                reason=transition.reason,
                details=transition.details,
                owner_id=transition.owner_id,
            )
            for transition in transitions
        ),
        batch_size=1000,
    )
    announce(
        notice_announcements(
            (t.notice, t.account_id, change.pk, versions.get(t.account_id), t.notice.extra)
            for t, change in zip(transitions, changes, strict=True)
            if t.notice
        ),
        now=now,
    )
    return changes


# The transitions go as one JSON array of arrays (account, from, to, reason,
# details, owner, when, then the notice: kind, rep, team, extra, keyed): a
# rescore moves thousands of accounts, and one parameter costs a fraction of
# what thousands of them (or model instances) cost the driver and the ORM.
# The UPDATE, the history's INSERT and the messages' are one statement; all
# of it reads the accounts as they were before it (one snapshot), which is
# the version a keyed notice is deduplicated on. The history rows' ids are
# drawn from their sequence first, in the order given, so that the messages
# name them without waiting for the INSERT's RETURNING.
RECORD_TRANSITIONS_SQL = """
WITH incoming AS (
    SELECT nextval((SELECT pg_get_serial_sequence('{change}', 'id'))::regclass) AS id,
           (e ->> 0)::bigint AS account_id, e ->> 1 AS from_status, e ->> 2 AS to_status,
           e ->> 3 AS reason, e -> 4 AS details, (e ->> 5)::bigint AS owner_id,
           coalesce((e ->> 6)::timestamptz, %(now)s) AS changed_at, e ->> 7 AS kind,
           (e ->> 8)::bigint AS rep_id, (e ->> 9)::bigint AS team_id, nullif(e -> 10, 'null') AS extra,
           (e ->> 11)::boolean AS keyed, position
    FROM jsonb_array_elements(%(transitions)s::jsonb) WITH ORDINALITY AS t(e, position)
), moved AS (
    UPDATE {account} AS account SET status = incoming.to_status, updated_at = %(now)s
    FROM incoming
    WHERE account.id = incoming.account_id AND incoming.from_status <> incoming.to_status
), changes AS (
    INSERT INTO {change} (id, account_id, from_status, to_status, changed_at, cause, changed_by_id,
                          reason, details, owner_id)
    SELECT id, account_id, from_status, to_status, changed_at, %(cause)s, %(changed_by)s, reason, details, owner_id
    FROM incoming
), announced AS (
    {notices}
)
SELECT id FROM incoming ORDER BY position
"""

NOTICES_OF_TRANSITIONS = """
SELECT incoming.kind, incoming.account_id, incoming.rep_id, incoming.team_id,
       incoming.id AS status_change_id, coalesce(incoming.extra, '{{}}') AS payload,
       incoming.keyed,
       CASE WHEN incoming.keyed THEN
           (SELECT account.updated_at FROM {account} AS account WHERE account.id = incoming.account_id)
       END AS version
FROM incoming
WHERE incoming.kind IS NOT NULL
"""


# StatusChange's concrete fields in their order (a test holds them to it).
STATUS_CHANGE_FIELDS = [
    "id", "account_id", "from_status", "to_status", "changed_at", "cause", "changed_by_id", "reason",
    "details", "owner_id",
]  # fmt: skip


def record_transitions_in_one_statement(
    transitions: Sequence[Transition], *, cause: StatusCause | str, changed_by, now: datetime
) -> list[StatusChange]:
    """PostgreSQL's record_transitions: one statement, whatever the number."""
    cause = StatusCause(cause)
    quote = connection.ops.quote_name
    rows = [
        [
            t.account_id,
            str(t.from_status),
            str(t.to_status),
            t.reason,
            t.details,
            t.owner_id,
            t.changed_at.isoformat() if t.changed_at else None,
            *(
                (str(t.notice.kind), t.notice.rep_id, t.notice.team_id, t.notice.extra or None, t.notice.keyed)
                if t.notice
                else ()
            ),
        ]
        for t in transitions
    ]
    account = quote(Account._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            RECORD_TRANSITIONS_SQL.format(
                account=account,
                change=quote(StatusChange._meta.db_table),
                notices=notices_writer(sum(1 for t in transitions if t.notice))(
                    NOTICES_OF_TRANSITIONS.format(account=account)
                ),
            ),
            {
                **notice_parameters(now),
                "transitions": json_text(rows),
                "cause": cause.value,
                "changed_by": changed_by.pk if changed_by is not None else None,
            },
        )
        ids = [row[0] for row in cursor.fetchall()]
    changed_by_id = changed_by.pk if changed_by is not None else None
    # As if read back (from_db: stored, so saving one again is refused), with
    # every concrete field given in order, which Django sets without looking
    # each name up: a rescore builds thousands.
    return [
        StatusChange.from_db(
            connection.alias,
            STATUS_CHANGE_FIELDS,
            (
                change_id,
                t.account_id,
                t.from_status,
                t.to_status,
                t.changed_at or now,
                cause,
                changed_by_id,
                t.reason,
                t.details,
                t.owner_id,
            ),
        )
        for change_id, t in zip(ids, transitions, strict=True)
    ]


@transaction.atomic
def change_status(
    *,
    account_id: int,
    to_status: LeadStatus | str,
    cause: StatusCause | str,
    changed_by=None,
    reason: str = "",
    details: dict | None = None,
    expected_from: LeadStatus | str | None = None,
) -> StatusChange | None:
    """Move an account to `to_status` and append the history row.

    Locks the account row, so concurrent callers see each other's change: a
    transition already made is not recorded twice. With `expected_from`, the
    change only happens from that status (a stale caller changes nothing).
    Returns the new history row, or None when nothing changed.
    """
    to_status = LeadStatus(to_status)
    account = (
        Account.objects.select_for_update().only("id", "status", "owner_id").get(pk=account_id)
    )
    from_status = account.status
    if from_status == to_status:
        return None
    if expected_from is not None and from_status != expected_from:
        return None
    now = timezone.now()
    (change,) = record_transitions(
        [
            Transition(
                account_id=account_id,
                from_status=from_status,
                to_status=to_status,
                reason=reason,
                details=details or {},
                owner_id=account.owner_id,
                notice=status_notice(
                    from_status=from_status, to_status=to_status, rep_id=account.owner_id
                ),
            )
        ],
        cause=cause,
        changed_by=changed_by,
        now=now,
    )
    return change


@transaction.atomic
def move_accounts(
    *,
    account_ids: Iterable[int],
    from_status: LeadStatus | str,
    to_status: LeadStatus | str,
    cause: StatusCause | str,
    reasons: Mapping[int, str] | None = None,
    details: Mapping[int, dict] | None = None,
    only_if: Q | None = None,
    changed_at: Mapping[int, datetime] | None = None,
) -> list[int]:
    """The set-based change_status: move every account still in `from_status`
    (and matching `only_if`, checked at lock time against committed data).

    The rows are locked first, so an account another worker already moved is
    skipped, never recorded twice. `changed_at` gives a change its real time
    when it happened before it was recorded (an outcome imported from a CRM);
    otherwise it is now. Returns the ids that moved.
    """
    ids = list(account_ids)
    if not ids:
        return []  # no query built either: rescoring calls this twice for every chunk
    from_status, to_status = LeadStatus(from_status), LeadStatus(to_status)
    reasons, details = reasons or {}, details or {}
    candidates = Account.objects.filter(pk__any=ids, status=from_status)
    if only_if is not None:
        candidates = candidates.filter(only_if)
    moved = list(
        candidates.select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True)
    )
    if not moved:
        return []
    # Outcomes imported from a CRM are history, not news: nobody is alerted.
    # Only unowned accounts move between signed up and PQL, hence no rep.
    notice = (
        None
        if StatusCause(cause) == StatusCause.IMPORT
        else status_notice(from_status=from_status, to_status=to_status, rep_id=None)
    )
    record_transitions(
        [
            Transition(
                account_id=account_id,
                from_status=from_status,
                to_status=to_status,
                reason=reasons.get(account_id, ""),
                details=details.get(account_id, {}),
                changed_at=changed_at.get(account_id) if changed_at else None,
                notice=notice,
            )
            for account_id in moved
        ],
        cause=cause,
        now=timezone.now(),
    )
    return moved


class Unassigned(StrEnum):
    """Why routing found nobody for a lead."""

    NO_RULES = "no_rules"  # routing is not set up: announced, not written in the history
    NO_RULE = "no_rule"
    NO_ACTIVE_REP = "no_active_rep"
    NOT_COVERED = "not_covered"
    TEAM_AWAY = "team_away"
    TEAM_FULL = "team_full"


@dataclass(frozen=True)
class Assignment:
    """Who should hold an account: a rep, or nobody (the unassigned queue,
    with `unassigned` saying why when routing decided it)."""

    rep_id: int | None
    reason: str
    sla_due_at: datetime | None = None
    team_id: int | None = None
    unassigned: Unassigned | None = None


@transaction.atomic
def assign_accounts(
    *,
    assignments: Mapping[int, Assignment],
    cause: StatusCause | str,
    changed_by=None,
) -> list[int]:
    """Give accounts to reps (or take them back), recorded in the status history.

    A PQL that gets a rep becomes assigned; an assigned account that loses its
    rep goes back to PQL; contacted leads keep their status when they change
    hands. Accounts already closed (converted, disqualified) or already held
    by that rep are left alone. Returns the ids that changed hands.
    """
    now = timezone.now()
    accounts = list(
        Account.objects.select_for_update(of=("self",))
        .filter(pk__any=assignments, status__in=OPEN_LEAD_STATUSES)
        .order_by("pk")
        .only("pk", "status", "owner_id")
    )
    transitions, changed = [], []
    for account in accounts:
        assignment = assignments[account.pk]
        if account.owner_id == assignment.rep_id:
            continue
        from_status, previous_rep_id = account.status, account.owner_id
        if assignment.rep_id is None:
            to_status = LeadStatus.PQL if from_status == LeadStatus.ASSIGNED else from_status
        else:
            to_status = LeadStatus.ASSIGNED if from_status == LeadStatus.PQL else from_status
        account.owner_id = assignment.rep_id
        account.assigned_at = now if assignment.rep_id else None
        account.sla_due_at = assignment.sla_due_at if assignment.rep_id else None
        account.updated_at = now
        changed.append(account)
        transitions.append(
            Transition(
                account_id=account.pk,
                from_status=from_status,
                to_status=to_status,
                reason=assignment.reason,
                owner_id=assignment.rep_id,
                notice=hand_over_notice(assignment.rep_id, previous_rep_id),
            )
        )
    # The hand-over here, the statuses and their history by the one writer.
    hand_over(changed, now=now)
    record_transitions(transitions, cause=cause, changed_by=changed_by, now=now)
    return [account.pk for account in changed]


def hand_over_notice(rep_id: int | None, previous_rep_id: int | None) -> Notice:
    if rep_id is None:
        kind = MessageKind.UNASSIGNED
    else:
        kind = MessageKind.REASSIGNED if previous_rep_id else MessageKind.ASSIGNED
    return Notice(
        kind=kind, rep_id=rep_id or previous_rep_id, extra={"previous_rep_id": previous_rep_id}
    )


HAND_OVER_SQL = """
UPDATE {account} AS account
SET owner_id = (e ->> 1)::bigint, assigned_at = (e ->> 2)::timestamptz,
    sla_due_at = (e ->> 3)::timestamptz, updated_at = %(now)s
FROM jsonb_array_elements(%(accounts)s::jsonb) AS e
WHERE account.id = (e ->> 0)::bigint
"""


def hand_over(accounts: Sequence[Account], *, now: datetime) -> None:
    """Write the accounts' owner, assignment time and contact deadline: on
    PostgreSQL one UPDATE from a JSON parameter (bulk_update's CASE per row
    and column costs more to build than to run)."""
    if not accounts:
        return
    if connection.vendor != "postgresql":
        Account.objects.bulk_update(
            accounts, ["owner", "assigned_at", "sla_due_at", "updated_at"], batch_size=1000
        )
        return
    rows = [
        [
            account.pk,
            account.owner_id,
            account.assigned_at.isoformat() if account.assigned_at else None,
            account.sla_due_at.isoformat() if account.sla_due_at else None,
        ]
        for account in accounts
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            HAND_OVER_SQL.format(account=connection.ops.quote_name(Account._meta.db_table)),
            {"now": now, "accounts": json_text(rows)},
        )


@transaction.atomic
def record_left_unassigned(*, assignments: Mapping[int, Assignment], cause: StatusCause | str) -> list[int]:
    """Record why routing left PQLs without a rep: a history row (the status
    stays PQL) with the reason, and a message for the managers
    (unassigned_team_full when the team was full). With no routing rules set
    up there is no decision to record: the managers are told, the history is
    left alone. A PQL left again, unchanged, is not announced again. Only
    PQLs still without an owner; returns their ids."""
    left = {pk: a for pk, a in assignments.items() if a.rep_id is None}
    locked = list(
        Account.objects.select_for_update(of=("self",))
        .filter(pk__any=left, status=LeadStatus.PQL, owner__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not locked:
        return []
    now = timezone.now()
    record_transitions(
        [
            Transition(
                account_id=pk,
                from_status=LeadStatus.PQL,
                to_status=LeadStatus.PQL,
                reason=left[pk].reason,
                details={"unassigned": str(left[pk].unassigned or ""), "team_id": left[pk].team_id},
                notice=left_unassigned_notice(left[pk]),
            )
            for pk in locked
            if left[pk].unassigned != Unassigned.NO_RULES
        ],
        cause=cause,
        now=now,
    )
    unrecorded: dict[Assignment, list[int]] = {}
    for pk in locked:
        if left[pk].unassigned == Unassigned.NO_RULES:
            unrecorded.setdefault(left[pk], []).append(pk)
    for assignment, account_ids in unrecorded.items():
        announce_unchanged(
            account_ids, left_unassigned_notice(assignment), status=LeadStatus.PQL, reason=assignment.reason, now=now
        )
    return locked


def left_unassigned_notice(assignment: Assignment) -> Notice:
    return Notice(
        kind=MessageKind.UNASSIGNED_TEAM_FULL
        if assignment.unassigned == Unassigned.TEAM_FULL
        else MessageKind.UNASSIGNED,
        team_id=assignment.team_id,
        extra={"unassigned": str(assignment.unassigned or "")},
        keyed=True,
    )


def announce_unchanged(
    account_ids: list[int], notice: Notice, *, status: LeadStatus, reason: str, now: datetime
) -> None:
    """The same news about accounts that stay in `status` (no history row):
    one message each, not again while an account stays as it was."""
    payload = {"from_status": status.value, "to_status": status.value, "reason": reason, **notice.extra}
    announce_same_news(account_ids, notice, payload=payload, now=now)


# An account's own data as the admin and the API edit it. Scoring reads all
# of it (attributes, traits, the signup and trial windows), so a change to any
# of these is a change of fit data and the account is rescored.
FIT_FIELDS = frozenset(
    {
        "name", "domain", "industry", "country", "employee_count", "plan",
        "signed_up_at", "trial_ends_at", "external_id", "traits",
    }
)  # fmt: skip


@transaction.atomic
def update_account(*, account: Account, **fields) -> frozenset[str]:
    """Write an account's own data: the admin's form and the API's update
    both come here. Status and owner are not among it: they change through
    change_status and the assignment services, which record them.

    Saves only the fields whose values differ and returns their names. The
    lead core does not know scoring: the caller asks for a rescore when fit
    data changed (`fit_data_changed`).
    """
    refused = set(fields) - FIT_FIELDS
    if refused:
        raise ValueError(f"update_account does not change {', '.join(sorted(refused))}")
    changed = frozenset(name for name, value in fields.items() if getattr(account, name) != value)
    for name in changed:
        setattr(account, name, fields[name])
    if changed:
        account.save(update_fields=[*sorted(changed), "updated_at"])
    return changed


def fit_data_changed(changed: Iterable[str]) -> bool:
    return not FIT_FIELDS.isdisjoint(changed)


@dataclass(frozen=True)
class NewEvent:
    """An event to record; `message_id` identifies it within its source."""

    account_id: int
    name: str
    occurred_at: datetime
    message_id: str
    source: str = "api"
    person_id: int | None = None
    properties: dict = field(default_factory=dict)


@dataclass
class RecordedEvents:
    stored: int
    duplicates: int
    account_ids: list[int]


EVENT_COLUMNS = [
    "account_id",
    "person_id",
    "name",
    "properties",
    "occurred_at",
    "received_at",
    "source",
    "message_id",
]
EVENT_BATCH = 500
# Rows of plain values (ids, names, properties parsed from JSON): no cycles to watch for.
EVENT_ROWS_JSON = json.JSONEncoder(separators=(",", ":"), check_circular=False)
# An account's last event time is kept to the minute (see store_events_in_postgresql).
LAST_EVENT_PRECISION = timedelta(minutes=1)


# Joins the caller's transaction without a savepoint: a batch is stored
# whole or not at all, and a savepoint cost two more round trips a batch.
@transaction.atomic(savepoint=False)
def record_events(events: Sequence[NewEvent]) -> RecordedEvents:
    """Store events set-based; an event already stored (same source and
    message id, e.g. a client resending after a timeout) is skipped, not
    stored twice. Accounts' last event times move forward. Returns which
    accounts got new events: the caller asks scoring to rescore them
    (scoring sits above this module and is told, never called from here).
    """
    store = store_events_in_postgresql if connection.vendor == "postgresql" else store_events_in_sqlite
    stored_per_account: dict[int, int] = {}
    for start in range(0, len(events), EVENT_BATCH):
        for account_id, stored in store(events[start : start + EVENT_BATCH]):
            stored_per_account[account_id] = stored_per_account.get(account_id, 0) + stored
    stored = sum(stored_per_account.values())
    return RecordedEvents(
        stored=stored, duplicates=len(events) - stored, account_ids=sorted(stored_per_account)
    )


def store_events_in_postgresql(batch: Sequence[NewEvent]) -> list[tuple[int, int]]:
    """PostgreSQL, one statement: insert the new events, move each account's
    last event time forward (to LAST_EVENT_PRECISION: busy accounts get events
    in every batch, and skipping the rewrite within the minute spares the
    hottest rows most writes and their locks), and return how many events
    each account got. The rows go in as one JSON parameter, unpacked by the
    server: eight parameters a row cost the driver more than the insert."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in EVENT_COLUMNS)
    accounts = quote(Account._meta.db_table)
    # Each row a JSON array, not an object: half the JSON to build and parse.
    rows = [
        [
            event.account_id,
            event.person_id,
            event.name,
            event.properties,
            event.occurred_at.isoformat(),
            event.source,
            event.message_id,
        ]
        for event in batch
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH stored AS (INSERT INTO {quote(Event._meta.db_table)} ({columns}) "  # noqa: S608
            "SELECT (e ->> 0)::bigint, (e ->> 1)::bigint, e ->> 2, e -> 3, (e ->> 4)::timestamptz, "
            "%s, e ->> 5, e ->> 6 FROM jsonb_array_elements(%s::jsonb) AS e "
            "ON CONFLICT (message_id, source) DO NOTHING RETURNING account_id, occurred_at), "
            "latest AS (SELECT account_id, max(occurred_at) AS at, count(*) AS stored "
            "FROM stored GROUP BY account_id), "
            # The accounts to move, locked in id order: two batches touching
            # the same accounts then wait for each other instead of deadlocking.
            f"due AS (SELECT a.id, latest.at FROM {accounts} a JOIN latest ON a.id = latest.account_id "
            "WHERE a.last_event_at IS NULL OR a.last_event_at < latest.at - %s "
            "ORDER BY a.id FOR NO KEY UPDATE OF a), "
            f"advanced AS (UPDATE {accounts} SET last_event_at = GREATEST({accounts}.last_event_at, due.at) "
            f"FROM due WHERE {accounts}.id = due.id) "
            "SELECT account_id, stored FROM latest",
            # psycopg adapts the timedelta to an interval; the stubs list no timedelta.
            [timezone.now(), EVENT_ROWS_JSON.encode(rows), LAST_EVENT_PRECISION],  # type: ignore[list-item]
        )
        return cursor.fetchall()


def store_events_in_sqlite(batch: Sequence[NewEvent]) -> list[tuple[int, int]]:
    """Elsewhere (SQLite): insert, then one UPDATE of the accounts' last event times."""
    latest: dict[int, datetime] = {}
    stored: dict[int, int] = {}
    for account_id, occurred_at in insert_new_events(batch):
        stored[account_id] = stored.get(account_id, 0) + 1
        if account_id not in latest or occurred_at > latest[account_id]:
            latest[account_id] = occurred_at
    if latest:
        advance_last_event_times(latest)
    return list(stored.items())


def advance_last_event_times(latest: Mapping[int, datetime]) -> None:
    """One UPDATE for every account touched, joined to the new times: each
    account's last event time becomes the later of its stored and new times,
    to LAST_EVENT_PRECISION. (An ORM CASE does the same but costs about a
    millisecond per account to compile.)"""
    table = connection.ops.quote_name(Account._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    params = [
        value
        for pk, at in sorted(latest.items())
        for value in (pk, adapt(at), adapt(at - LAST_EVENT_PRECISION))
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_event_at = v.at "  # noqa: S608
            "FROM (SELECT column1 AS id, column2 AS at, column3 AS stale_before "
            f"FROM (VALUES {', '.join(['(%s, %s, %s)'] * len(latest))})) AS v "
            f"WHERE {table}.id = v.id AND ({table}.last_event_at IS NULL OR {table}.last_event_at < v.stale_before)",
            params,
        )


def insert_new_events(batch: Sequence[NewEvent]) -> list[tuple[int, datetime]]:
    """One multi-row INSERT ... ON CONFLICT DO NOTHING; returns the account
    and time of each event stored."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in EVENT_COLUMNS)
    row = "(" + ", ".join(["%s"] * 8) + ")"
    adapt = connection.ops.adapt_datetimefield_value
    received_at = adapt(timezone.now())
    params = []
    for event in batch:
        params += [
            event.account_id,
            event.person_id,
            event.name,
            json.dumps(event.properties),
            adapt(event.occurred_at),
            received_at,
            event.source,
            event.message_id,
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(Event._meta.db_table)} ({columns}) "  # noqa: S608
            f"VALUES {', '.join([row] * len(batch))} "
            "ON CONFLICT (message_id, source) DO NOTHING RETURNING id",
            params,
        )
        ids = [row[0] for row in cursor.fetchall()]
    return list(Event.objects.filter(pk__in=ids).values_list("account_id", "occurred_at"))


# What a rep can record, and from which statuses.
OUTCOMES_FROM = {
    LeadStatus.CONTACTED: {LeadStatus.PQL, LeadStatus.ASSIGNED},
    LeadStatus.CONVERTED: {LeadStatus.PQL, LeadStatus.ASSIGNED, LeadStatus.CONTACTED},
    LeadStatus.DISQUALIFIED: {LeadStatus.PQL, LeadStatus.ASSIGNED, LeadStatus.CONTACTED},
}


class OutcomeRefused(ValueError):
    """An outcome that does not follow from the account's status; says why."""


@transaction.atomic
def record_outcome(*, account_id: int, outcome: LeadStatus | str, changed_by, reason: str = "") -> StatusChange:
    """A rep (or manager) records what happened: contacted, converted or
    disqualified. A conversion makes the account a paying customer."""
    outcome = LeadStatus(outcome)
    if outcome not in OUTCOMES_FROM:
        raise OutcomeRefused(f"'{outcome.label}' is not an outcome a rep records.")
    if outcome == LeadStatus.DISQUALIFIED and not reason.strip():
        raise OutcomeRefused("Say why the account is disqualified.")
    current = Account.objects.select_for_update().only("status").get(pk=account_id).status
    if current not in OUTCOMES_FROM[outcome]:
        raise OutcomeRefused(
            f"An account that is {LeadStatus(current).label.lower()} cannot be marked "
            f"{outcome.label.lower()}."
        )
    change = change_status(
        account_id=account_id, to_status=outcome, cause=StatusCause.USER, changed_by=changed_by, reason=reason.strip()
    )
    assert change is not None  # the status was checked above to be one it moves from
    if outcome == LeadStatus.CONVERTED:
        Account.objects.filter(pk=account_id).update(plan=Plan.PAID)
    return change


def add_note(*, account_id: int, changed_by, body: str) -> Note:
    """A note on the account, by whoever wrote it (the acting user)."""
    return Note.objects.create(account_id=account_id, author=changed_by, body=body.strip())


def update_rep_settings(
    *,
    rep_id: int,
    away_from: datetime | None,
    away_until: datetime | None,
    alert_timing: str,
    alert_by_email: bool,
    alert_by_slack: bool,
) -> None:
    """A rep's availability and alert choices (their settings page). While
    away, routing gives them no new leads and their due leads escalate."""
    if away_from and away_until and away_from >= away_until:
        raise ValueError("The return must come after the start of the absence.")
    SalesRep.objects.filter(pk=rep_id).update(
        away_from=away_from,
        away_until=away_until,
        alert_timing=alert_timing,
        alert_by_email=alert_by_email,
        alert_by_slack=alert_by_slack,
    )


def mark_queue_seen(*, rep_id: int, at: datetime) -> None:
    """The rep opened their queue: what was assigned before now is no longer new."""
    SalesRep.objects.filter(pk=rep_id).update(queue_seen_at=at)
