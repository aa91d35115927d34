"""Delivery of the outbox's messages to people: email and Slack.

A pass claims pending messages in small batches with SELECT ... FOR UPDATE
SKIP LOCKED (two workers never take the same message), reads what the
batch needs in a few queries, sends, and records each channel's state in
the same transaction. A failed send stays pending with a backoff; a worker
killed mid-batch rolls back its claim and the next pass sends again (at
least once, which the cooldown turns into once for people).
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from slack_sdk.webhook import WebhookClient

from leads.groups import SALES_MANAGERS
from leads.models import (
    FOR_MANAGERS,
    FOR_PEOPLE_CONDITION,
    FOR_REPS,
    Account,
    AlertTiming,
    DeliveryState,
    MessageKind,
    OutboxMessage,
    Person,
    SalesRep,
    Team,
)
from leads.outbox import unfold_batches
from scoring.selectors import explained_scores

from .compose import AlertFacts, Contact, compose
from .models import ManagerAlerts

log = logging.getLogger(__name__)

BATCH = 50
PENDING = DeliveryState.PENDING
# Seconds to wait before each retry; after the last, the channel is failed.
BACKOFF = [30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600]
# Slack answers 200 with "ok"; anything else is a failure.
SLACK_OK = "ok"
# The managers' kinds a manager may take in the daily digest instead: what
# nobody owns and what is late. A disabled endpoint or a due lead of an away
# rep stays instant.
FOR_MANAGER_DIGEST = frozenset(
    {MessageKind.UNASSIGNED, MessageKind.UNASSIGNED_TEAM_FULL, MessageKind.SLA_PASSED}
)


@dataclass
class Delivered:
    claimed: int = 0
    emails: int = 0
    slack: int = 0
    held: int = 0
    skipped: int = 0
    failed: int = 0


class SlackRefused(RuntimeError):
    """Slack answered with an error (the post is retried)."""


def deliver_pending(*, now: datetime | None = None, limit: int = 2000) -> Delivered:
    """Deliver pending email and Slack messages in the order the changes were
    made, up to `limit` (the outbox's batches unfolded first)."""
    unfold_batches()
    total = Delivered()
    while total.claimed < limit:
        with transaction.atomic():
            batch = list(
                OutboxMessage.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("status_change")
                .filter(Q(email_state=PENDING) | Q(slack_state=PENDING))
                .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now or timezone.now()))
                .order_by("created_at", "pk")[:BATCH]
            )
            if not batch:
                break
            deliver_batch(batch, now=now or timezone.now(), total=total)
        total.claimed += len(batch)
    return total


@dataclass
class Book:
    """What a batch's alerts show and whom they go to, read in a few queries."""

    accounts: dict[int, Account]
    reasons: dict[int, list[str]]
    contacts: dict[int, Contact]
    reps: dict[int, SalesRep]
    rep_slack: dict[int, str]
    team_slack: dict[int, str]
    # Every sales manager with an email address: (user id, email).
    managers: list[tuple[int, str]]
    # The managers who take unowned and overdue leads in the daily digest.
    digest_managers: set[int]
    # (account, kind, rep) -> when alerts of it that reached people were made.
    recent: dict[tuple, list[datetime]]
    # Peers that failed earlier in this batch ("email", or a Slack URL) and why:
    # the batch's other messages wait for the retry instead of each timing out.
    broken: dict[str, str] = field(default_factory=dict)

    def cooled(self, message: OutboxMessage, cooldown: timedelta) -> bool:
        """Whether an alert of the same kind for the same account and rep
        reached people within the cooldown before this one was made."""
        key = (message.account_id, message.kind, message.rep_id)
        return any(
            message.created_at - cooldown <= made <= message.created_at for made in self.recent.get(key, ())
        )


def read_book(batch: list[OutboxMessage], *, now: datetime) -> Book:
    account_ids = {m.account_id for m in batch if m.account_id}
    accounts = {
        a.pk: a for a in Account.objects.filter(pk__in=account_ids).select_related("score", "owner__user")
    }
    scores = [a.score for a in accounts.values() if hasattr(a, "score")]
    reasons = {pk: words.get("reasons", []) for pk, words in explained_scores(scores).items()}
    contacts: dict[int, Contact] = {}
    people = (
        Person.objects.filter(account_id__in=account_ids)
        .exclude(email="")
        .order_by("account_id", "-last_seen_at", "pk")
        .values_list("account_id", "name", "title", "email")
    )
    for account_id, name, title, email in people:
        contacts.setdefault(account_id, Contact(name=name, title=title, email=email))
    rep_ids = {m.rep_id for m in batch if m.rep_id}
    reps = {r.pk: r for r in SalesRep.objects.filter(pk__in=rep_ids).select_related("user", "manager")}
    rep_slack: dict[int, str] = {}
    memberships = (
        Team.members.through.objects.filter(salesrep_id__in=rep_ids)
        .exclude(team__slack_webhook_url="")
        .order_by("team__name")
        .values_list("salesrep_id", "team__slack_webhook_url")
    )
    for rep_id, url in memberships:
        rep_slack.setdefault(rep_id, url)
    team_ids = {m.team_id for m in batch if m.team_id}
    team_slack = dict(
        Team.objects.filter(pk__in=team_ids).exclude(slack_webhook_url="").values_list("pk", "slack_webhook_url")
    )
    managers: list[tuple[int, str]] = []
    digest_managers: set[int] = set()
    if any(m.kind in FOR_MANAGERS or m.kind == MessageKind.SLA_DUE_SOON for m in batch):
        managers = list(
            get_user_model()
            .objects.filter(Q(groups__name=SALES_MANAGERS) | Q(is_superuser=True), is_active=True)
            .exclude(email="")
            .order_by("email")
            .values_list("pk", "email")
            .distinct()
        )
    if any(m.kind in FOR_MANAGER_DIGEST for m in batch):
        digest_managers = set(
            ManagerAlerts.objects.filter(alert_timing=AlertTiming.DIGEST, user__is_active=True).values_list(
                "user_id", flat=True
            )
        )
    return Book(
        accounts=accounts,
        reasons=reasons,
        contacts=contacts,
        reps=reps,
        rep_slack=rep_slack,
        team_slack=team_slack,
        managers=managers,
        digest_managers=digest_managers,
        recent=recently_sent(batch, now=now),
    )


def recently_sent(batch: list[OutboxMessage], *, now: datetime) -> dict[tuple, list[datetime]]:
    """When alerts of the batch's (account, kind, rep) reached people, within
    the cooldown of the batch's oldest message (one query)."""
    cooldown = timedelta(minutes=settings.ALERTS_COOLDOWN_MINUTES)
    recent: dict[tuple, list[datetime]] = {}
    if not cooldown or not batch:
        return recent
    rows = (
        OutboxMessage.objects.filter(
            FOR_PEOPLE_CONDITION,  # as the cooldown's index
            account_id__in={m.account_id for m in batch if m.account_id},
            kind__in={m.kind for m in batch},
            created_at__gte=min(m.created_at for m in batch) - cooldown,
        )
        .filter(Q(email_state__in=[DeliveryState.SENT, DeliveryState.HELD]) | Q(slack_state=DeliveryState.SENT))
        .exclude(pk__in=[m.pk for m in batch])
        .values_list("account_id", "kind", "rep_id", "created_at")
    )
    for account_id, kind, rep_id, created_at in rows:
        recent.setdefault((account_id, kind, rep_id), []).append(created_at)
    return recent


@dataclass
class Audience:
    emails: list[str]
    slack_url: str
    escalated: bool = False
    digest: bool = False


def audience_of(message: OutboxMessage, book: Book, *, now: datetime) -> Audience:
    """Whom a message goes to: the rep (by their choices) for the reps' kinds,
    the rep's manager (or every sales manager) for the managers' kinds and
    for a due lead whose rep is away."""
    rep = book.reps.get(message.rep_id) if message.rep_id else None
    managers = (
        [(rep.manager.pk, rep.manager.email)] if rep and rep.manager and rep.manager.email else book.managers
    )
    emails = [email for _, email in managers]
    manager_slack = (
        book.team_slack.get(message.team_id or 0)
        or (book.rep_slack.get(rep.pk, "") if rep else "")
        or settings.ALERTS_MANAGERS_SLACK_WEBHOOK_URL
    )
    if message.kind in FOR_MANAGER_DIGEST and managers:
        # Managers who chose the digest hear of it there; if every one did,
        # the message waits for the digest and nothing goes out now.
        emails = [email for user_id, email in managers if user_id not in book.digest_managers]
        if not emails:
            return Audience(emails=[], slack_url="", digest=True)
    if message.kind in FOR_MANAGERS:
        return Audience(emails=emails, slack_url=manager_slack)
    if rep is None or not rep.is_active or not rep.user.is_active:
        return Audience(emails=[], slack_url="")
    if message.kind == MessageKind.SLA_DUE_SOON and rep.is_away(now):
        return Audience(emails=emails, slack_url=manager_slack, escalated=True)
    return Audience(
        emails=[rep.user.email] if rep.alert_by_email and rep.user.email else [],
        slack_url=(book.team_slack.get(message.team_id or 0) or book.rep_slack.get(rep.pk, ""))
        if rep.alert_by_slack
        else "",
        digest=rep.alert_timing == AlertTiming.DIGEST,
    )


def facts_of(message: OutboxMessage, book: Book, *, escalated: bool = False) -> AlertFacts:
    payload = message.change
    rep = book.reps.get(message.rep_id) if message.rep_id else None
    if message.kind == MessageKind.ENDPOINT_DISABLED:
        return AlertFacts(
            kind=message.kind,
            company="",
            tier="",
            score=None,
            reasons=[],
            contact=None,
            link=settings.SITE_URL + reverse("admin:index"),
            reason=payload.get("reason", ""),
            extra={"url": payload.get("url", "")},
        )
    account_id = message.account_id or 0
    account = book.accounts.get(account_id)
    score = getattr(account, "score", None) if account else None
    due = payload.get("sla_due_at")
    return AlertFacts(
        kind=message.kind,
        company=account.name if account else f"Account {account_id}",
        tier=score.get_tier_display() if score else "not sized yet",
        score=score.score if score else None,
        reasons=book.reasons.get(account_id, []),
        contact=book.contacts.get(account_id),
        link=settings.SITE_URL + reverse("account", args=[account_id]),
        rep_name=str(rep) if rep else "",
        reason=payload.get("reason", "") if message.kind in FOR_MANAGERS else "",
        sla_due_at=datetime.fromisoformat(due) if due else None,
        escalated=escalated,
    )


def deliver_batch(batch: list[OutboxMessage], *, now: datetime, total: Delivered) -> None:
    book = read_book(batch, now=now)
    mail = get_connection(fail_silently=False)
    try:
        for message in batch:
            deliver_one(message, book, mail=mail, now=now, total=total)
    finally:
        mail.close()
    OutboxMessage.objects.bulk_update(
        batch, ["email_state", "slack_state", "attempts", "next_attempt_at", "delivered_at", "last_error"]
    )


def deliver_one(message: OutboxMessage, book: Book, *, mail, now: datetime, total: Delivered) -> None:
    audience = audience_of(message, book, now=now)
    key = (message.account_id, message.kind, message.rep_id)
    if message.account_id and book.cooled(message, timedelta(minutes=settings.ALERTS_COOLDOWN_MINUTES)):
        skip(message, "cooldown: the same alert went out recently", total)
        return
    if audience.digest and (message.kind in FOR_REPS or message.kind in FOR_MANAGER_DIGEST):
        hold_for_digest(message, total)
        return
    alert = compose(facts_of(message, book, escalated=audience.escalated))
    errors = []
    if message.email_state == PENDING:
        if not audience.emails:
            message.email_state = DeliveryState.SKIPPED
        elif "email" in book.broken:
            errors.append(f"email: {book.broken['email']}")
        else:
            try:
                mail.send_messages([EmailMessage(alert.subject, alert.text, to=audience.emails)])
                message.email_state = DeliveryState.SENT
                total.emails += 1
            except Exception as error:  # SMTP and socket errors alike: retried
                book.broken["email"] = str(error) or type(error).__name__
                errors.append(f"email: {book.broken['email']}")
    if message.slack_state == PENDING:
        if not audience.slack_url:
            message.slack_state = DeliveryState.SKIPPED
        elif audience.slack_url in book.broken:
            errors.append(f"slack: {book.broken[audience.slack_url]}")
        else:
            try:
                post_to_slack(audience.slack_url, text=alert.subject, blocks=alert.blocks)
                message.slack_state = DeliveryState.SENT
                total.slack += 1
            except Exception as error:
                book.broken[audience.slack_url] = str(error) or type(error).__name__
                errors.append(f"slack: {book.broken[audience.slack_url]}")
    if errors:
        retry_later(message, "; ".join(errors), now=now, total=total)
    else:
        message.delivered_at, message.last_error = now, ""
        if DeliveryState.SENT in (message.email_state, message.slack_state):
            book.recent.setdefault(key, []).append(message.created_at)
        else:
            total.skipped += 1


def post_to_slack(url: str, *, text: str, blocks: list[dict]) -> None:
    """One post to an incoming webhook; raises on anything but Slack's "ok"."""
    response = WebhookClient(url, timeout=settings.ALERTS_SLACK_TIMEOUT).send(text=text, blocks=blocks)
    if response.status_code != 200 or response.body.strip() != SLACK_OK:
        raise SlackRefused(f"HTTP {response.status_code}: {response.body[:200]}")


def skip(message: OutboxMessage, why: str, total: Delivered) -> None:
    for state in ("email_state", "slack_state"):
        if getattr(message, state) == PENDING:
            setattr(message, state, DeliveryState.SKIPPED)
    message.last_error = why
    total.skipped += 1


def hold_for_digest(message: OutboxMessage, total: Delivered) -> None:
    """A rep who chose the digest hears of new leads there, by email only; a
    manager hears of unowned and overdue leads in theirs."""
    if message.email_state == PENDING:
        message.email_state = DeliveryState.HELD
    if message.slack_state == PENDING:
        message.slack_state = DeliveryState.SKIPPED
    total.held += 1


def retry_later(message: OutboxMessage, error: str, *, now: datetime, total: Delivered) -> None:
    message.attempts += 1
    message.last_error = error[:2000]
    log.warning("Alert %s not delivered (attempt %d): %s", message.message_id, message.attempts, error)
    if message.attempts > len(BACKOFF):
        for state in ("email_state", "slack_state"):
            if getattr(message, state) == PENDING:
                setattr(message, state, DeliveryState.FAILED)
        message.next_attempt_at = None
        total.failed += 1
        return
    message.next_attempt_at = now + timedelta(seconds=BACKOFF[message.attempts - 1])

