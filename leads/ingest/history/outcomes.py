"""Outcomes from a CRM export (who converted, who was disqualified, when):
recorded in the status history with their real time and cause "import", so
the metrics and the lab see the true funnel. An outcome never overwrites a
later status recorded by pqlsite itself, and the same file imported twice
records each outcome once."""

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import IO

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ...models import Account, LeadStatus, StatusCause, StatusChange
from ...services import move_accounts
from ...timestamps import parse_iso

# What CRMs call the two outcomes.
OUTCOME_WORDS = {
    "converted": LeadStatus.CONVERTED,
    "won": LeadStatus.CONVERTED,
    "closed won": LeadStatus.CONVERTED,
    "customer": LeadStatus.CONVERTED,
    "disqualified": LeadStatus.DISQUALIFIED,
    "lost": LeadStatus.DISQUALIFIED,
    "closed lost": LeadStatus.DISQUALIFIED,
}
# The header names each column may have.
COLUMNS = {
    "external_id": ("external_id", "account_id", "group_id", "groupId", "id"),
    "domain": ("domain", "website"),
    "outcome": ("outcome", "status", "stage"),
    "date": ("date", "decided_at", "closed_at", "close_date", "changed_at"),
    "reason": ("reason", "lost_reason", "notes"),
}
REASON_LENGTH = 2000


class RowRefused(ValueError):
    """A row that cannot be recorded; `field` names the column at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass(frozen=True)
class PastOutcome:
    """One row, checked: an account's outcome and when it happened."""

    line: int
    account_id: int
    outcome: LeadStatus
    decided_at: datetime
    reason: str = ""


@dataclass
class OutcomesRecorded:
    """What an import did: `recorded` outcomes now in the history;
    `already` recorded before (the same file again, or the account already
    there); `kept` rows not recorded because a later status stands (line,
    why); `account_ids` the accounts that got an outcome."""

    recorded: int = 0
    already: int = 0
    kept: list[dict] = field(default_factory=list)
    account_ids: list[int] = field(default_factory=list)


def read_csv(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {column: value}) of each record after the header, with
    the columns renamed to external_id, domain, outcome, date and reason."""
    reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""))
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        return
    names = {}
    for name, candidates in COLUMNS.items():
        found = next((column for column in candidates if column in header), None)
        if found is not None:
            names[header.index(found)] = name
    missing = [name for name in ("outcome", "date") if name not in names.values()]
    if missing or not {"external_id", "domain"} & set(names.values()):
        raise ValueError(
            "the header needs outcome, date and external_id or domain columns "
            f"(it has {', '.join(header) or 'none'})"
        )
    start = reader.line_num + 1
    for record in reader:
        line, start = start, reader.line_num + 1
        if any(cell.strip() for cell in record):
            yield line, {name: record[i].strip() for i, name in names.items() if i < len(record)}


class AccountIndex:
    """The accounts rows name, by external id and by domain, read in two queries."""

    def __init__(self, rows: Iterable[Mapping[str, str]]):
        rows = list(rows)
        external_ids = {row.get("external_id") for row in rows} - {None, ""}
        domains = {row.get("domain", "").lower() for row in rows} - {""}
        self.by_external_id = dict(
            Account.objects.filter(external_id__in=sorted(external_ids)).values_list("external_id", "pk")
        )
        self.by_domain: dict[str, list[int]] = {}
        for domain, pk in Account.objects.filter(domain__in=sorted(domains)).values_list("domain", "pk"):
            self.by_domain.setdefault(domain.lower(), []).append(pk)

    def find(self, row: Mapping[str, str]) -> int:
        external_id, domain = row.get("external_id", ""), row.get("domain", "").lower()
        if external_id:
            if external_id in self.by_external_id:
                return self.by_external_id[external_id]
            if not domain:
                raise RowRefused("external_id", f"no account has the external id {external_id!r}")
        if not domain:
            raise RowRefused("external_id", "give the account's external id or domain")
        found = self.by_domain.get(domain, [])
        if not found:
            raise RowRefused("domain", f"no account has the domain {domain!r}")
        if len(found) > 1:
            raise RowRefused("domain", f"{len(found)} accounts have the domain {domain!r}: give the external id")
        return found[0]


def parse_date(value: str, *, now: datetime) -> datetime:
    """A date (midnight in the site's time zone) or an ISO 8601 date-time."""
    if not value:
        raise RowRefused("date", "required")
    try:
        at = timezone.make_aware(datetime.combine(date.fromisoformat(value), time.min))
    except ValueError:
        parsed = parse_iso(value)
        if parsed is None:
            raise RowRefused("date", "must be a date (2025-01-31) or an ISO 8601 date-time") from None
        at = parsed
    if at > now:
        raise RowRefused("date", "is in the future")
    if at.year < 1970:
        raise RowRefused("date", "is before 1970")
    return at


def parse_row(line: int, row: Mapping[str, str], *, accounts: AccountIndex, now: datetime) -> PastOutcome:
    """One row checked; raises RowRefused naming the column."""
    word = row.get("outcome", "").strip().lower()
    if word not in OUTCOME_WORDS:
        raise RowRefused("outcome", "must be converted or disqualified (or won, lost)")
    account_id = accounts.find(row)
    reason = row.get("reason", "")
    if len(reason) > REASON_LENGTH:
        raise RowRefused("reason", f"at most {REASON_LENGTH} characters")
    return PastOutcome(line, account_id, OUTCOME_WORDS[word], parse_date(row.get("date", ""), now=now), reason)


def parse_rows(rows: Iterable[tuple[int, Mapping[str, str]]], *, now: datetime | None = None
               ) -> tuple[list[PastOutcome], list[dict]]:
    """The rows checked: outcomes to record, and the refused rows (line, errors)."""
    rows = list(rows)
    now = now or timezone.now()
    accounts = AccountIndex(row for _, row in rows)
    outcomes, rejects = [], []
    for line, row in rows:
        try:
            outcomes.append(parse_row(line, row, accounts=accounts, now=now))
        except RowRefused as refused:
            rejects.append({"line": line, "errors": [str(refused)]})
    return outcomes, rejects


@transaction.atomic
def record_past_outcomes(outcomes: Iterable[PastOutcome]) -> OutcomesRecorded:
    """Record each account's latest outcome in the file, in a few statements.

    The accounts are locked first; an outcome is recorded only when it is
    later than every status change the account has (else a later status,
    recorded by pqlsite, stands and the row says why). The moves go through
    move_accounts, one call per (status left, outcome), with their real
    times and cause import.
    """
    done = OutcomesRecorded()
    latest: dict[int, PastOutcome] = {}
    for outcome in outcomes:
        earlier = latest.get(outcome.account_id)
        if earlier is not None and earlier.decided_at > outcome.decided_at:
            earlier, outcome = outcome, earlier
        if earlier is not None:
            done.kept.append({"line": earlier.line, "why": f"line {outcome.line} gives a later outcome"})
        latest[outcome.account_id] = outcome
    if not latest:
        return done
    statuses = dict(
        Account.objects.select_for_update().filter(pk__in=sorted(latest)).order_by("pk").values_list("pk", "status")
    )
    last_rows = last_changes(latest)
    moves: dict[tuple[str, str], list[PastOutcome]] = {}
    for account_id, outcome in sorted(latest.items()):
        verdict = decide(outcome, last=last_rows.get(account_id), status=statuses[account_id])
        if verdict == ALREADY:
            done.already += 1
        elif verdict == RECORD:
            moves.setdefault((statuses[account_id], outcome.outcome), []).append(outcome)
        else:
            done.kept.append({"line": outcome.line, "why": verdict})
    for (from_status, to_status), group in sorted(moves.items()):
        moved = move_accounts(
            account_ids=[outcome.account_id for outcome in group],
            from_status=from_status,
            to_status=to_status,
            cause=StatusCause.IMPORT,
            reasons={outcome.account_id: outcome.reason for outcome in group},
            changed_at={outcome.account_id: outcome.decided_at for outcome in group},
        )
        done.recorded += len(moved)
        done.account_ids += moved
    return done


RECORD, ALREADY = "record", "already"


def decide(outcome: PastOutcome, *, last: StatusChange | None, status: str) -> str:
    """RECORD, ALREADY (this outcome is the account's status already, or the
    same row was imported before), or why a later status stands."""
    if last is not None and last.changed_at >= outcome.decided_at:
        if last.to_status == outcome.outcome and (last.changed_at == outcome.decided_at or status == outcome.outcome):
            return ALREADY
        return (
            f"a later status stands: {LeadStatus(last.to_status).label.lower()} on "
            f"{timezone.localtime(last.changed_at):%Y-%m-%d %H:%M} ({StatusCause(last.cause).label.lower()})"
        )
    return ALREADY if status == outcome.outcome else RECORD


def last_changes(account_ids: Iterable[int]) -> dict[int, StatusChange]:
    """Each account's latest status change, in two queries."""
    ids = sorted(set(account_ids))
    times = dict(
        StatusChange.objects.filter(account_id__in=ids).values("account_id")
        .annotate(at=Max("changed_at")).order_by().values_list("account_id", "at")
    )
    rows = StatusChange.objects.filter(
        account_id__in=sorted(times), changed_at__in=sorted(set(times.values()))
    ).order_by("account_id", "changed_at", "id")
    return {row.account_id: row for row in rows if times[row.account_id] == row.changed_at}
