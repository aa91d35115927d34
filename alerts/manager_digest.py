"""The managers' daily digest: for each sales manager who chose it, one
message a day with the PQLs nobody owns and the leads whose contact is
overdue, by email and, where the manager gave one, in Slack.

A manager who chose the digest gets no instant alert for those (delivery
holds them); the digest lists what is unowned and late when it goes out, so
a lead assigned or contacted since is not in it. Two workers running it at
once never send a manager's digest twice: each locks the managers it sends
to (SKIP LOCKED) and marks them sent in the same transaction.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Window
from django.db.models.functions import RowNumber
from django.urls import reverse
from django.utils import timezone

from leads.groups import SALES_MANAGERS
from leads.models import Account, AlertTiming, DeliveryState, LeadStatus, OutboxMessage

from .compose import mrkdwn, plain, slack_escape, when
from .delivery import FOR_MANAGER_DIGEST, post_to_slack
from .digest import digest_moment
from .models import ManagerAlerts

log = logging.getLogger(__name__)

# Leads listed per section; the rest are counted, and the team page has them all.
SHOWN = 25


@dataclass
class ManagerDigest:
    choice: ManagerAlerts
    unowned: list[Account] = field(default_factory=list)
    unowned_count: int = 0
    overdue: list[Account] = field(default_factory=list)
    overdue_count: int = 0

    @property
    def empty(self) -> bool:
        return not (self.unowned_count or self.overdue_count)

    @property
    def counts(self) -> str:
        return (
            f"{self.unowned_count} PQL{'' if self.unowned_count == 1 else 's'} without a rep, "
            f"{self.overdue_count} overdue"
        )


@dataclass
class ManagerDigestsSent:
    managers: int = 0
    emails: int = 0
    slack: int = 0
    failed: int = 0


def digest_managers():
    """The sales managers (or superusers), active, who chose the digest."""
    in_group = get_user_model().groups.through.objects.filter(
        user_id=OuterRef("user_id"), group__name=SALES_MANAGERS
    )
    return ManagerAlerts.objects.filter(alert_timing=AlertTiming.DIGEST, user__is_active=True).filter(
        Q(user__is_superuser=True) | Q(Exists(in_group))
    )


def send_due_manager_digests(*, now: datetime | None = None) -> ManagerDigestsSent:
    """Send the digest to every manager who chose it and has not had one
    since today's digest time (once that time has come)."""
    now = now or timezone.now()
    sent = ManagerDigestsSent()
    moment = digest_moment(now)
    if now < moment:
        return sent
    with transaction.atomic():
        choices = list(
            digest_managers()
            .select_for_update(skip_locked=True, of=("self",))
            .exclude(digest_sent_at__gte=moment)
            .select_related("user")
            .order_by("pk")
        )
        if not choices:
            if not digest_managers().exists():
                release_held(now=now)
            return sent
        done = []
        mail = get_connection(fail_silently=False)
        try:
            for digest in gather(choices, now=now):
                if send(digest, mail=mail, now=now, sent=sent):
                    done.append(digest.choice.pk)
        finally:
            mail.close()
        ManagerAlerts.objects.filter(pk__in=done).update(digest_sent_at=now)
        # What delivery held for the digest has now been told.
        OutboxMessage.objects.filter(
            email_state=DeliveryState.HELD, kind__in=list(FOR_MANAGER_DIGEST), created_at__lte=now
        ).update(email_state=DeliveryState.SENT, delivered_at=now)
        sent.managers = len(done)
    return sent


def release_held(*, now: datetime) -> int:
    """Nobody takes the digest any more (the managers went back to alerts at
    once): what was held for it will not be in one. Marked skipped, with
    why; the leads themselves are on the team page."""
    return OutboxMessage.objects.filter(
        email_state=DeliveryState.HELD, kind__in=list(FOR_MANAGER_DIGEST), created_at__lte=now
    ).update(email_state=DeliveryState.SKIPPED, last_error="held for a digest no manager takes any more")


def gather(choices: list[ManagerAlerts], *, now: datetime) -> list[ManagerDigest]:
    """Four queries for every manager at once: the unowned PQLs (the same for
    every manager) and the overdue leads of each manager's reps (those of a
    rep without a manager go to every manager), each counted and the first
    SHOWN listed."""
    unowned = Account.objects.filter(status=LeadStatus.PQL, owner__isnull=True)
    unowned_count = unowned.count()
    unowned_shown = list(
        unowned.select_related("score").order_by(F("score__score").desc(nulls_last=True), "pk")[:SHOWN]
    )
    overdue = Account.objects.filter(status=LeadStatus.ASSIGNED, sla_due_at__lt=now)
    counts = dict(
        overdue.order_by().values("owner__manager_id").annotate(count=Count("pk")).values_list(
            "owner__manager_id", "count"
        )
    )
    wanted = [choice.user_id for choice in choices]
    ranked = list(
        overdue.filter(Q(owner__manager_id__in=wanted) | Q(owner__manager_id__isnull=True))
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("owner__manager_id")], order_by=[F("sla_due_at").asc()])
        )
        .filter(rank__lte=SHOWN)
        .select_related("score", "owner__user")
        .order_by("sla_due_at", "pk")
    )
    digests = []
    for choice in choices:
        theirs = [a for a in ranked if (a.owner.manager_id if a.owner else None) in (choice.user_id, None)]
        theirs = theirs[:SHOWN]
        digests.append(
            ManagerDigest(
                choice=choice,
                unowned=unowned_shown,
                unowned_count=unowned_count,
                overdue=theirs,
                overdue_count=counts.get(choice.user_id, 0) + counts.get(None, 0),
            )
        )
    return digests


def send(digest: ManagerDigest, *, mail, now: datetime, sent: ManagerDigestsSent) -> bool:
    """Email, then Slack. False when the email failed: the manager is not
    marked, and the next hourly pass sends both again. A Slack post that fails
    after the email went is logged, not retried, so the email is never sent
    twice."""
    if digest.empty:
        return True
    user = digest.choice.user
    subject, text = render(digest, now=now)
    if user.email:
        try:
            mail.send_messages([EmailMessage(subject, text, to=[user.email])])
            sent.emails += 1
        except Exception:  # SMTP and socket errors alike: the next pass tries again
            log.warning("Managers' digest for %s not sent; the next pass tries again", user.pk, exc_info=True)
            sent.failed += 1
            return False
    if digest.choice.slack_webhook_url:
        try:
            post_to_slack(digest.choice.slack_webhook_url, text=subject, blocks=blocks(digest, now=now))
            sent.slack += 1
        except Exception:
            log.warning("Managers' digest for %s not posted to Slack", user.pk, exc_info=True)
    return True


def link(account: Account) -> str:
    return settings.SITE_URL + reverse("account", args=[account.pk])


def describe(account: Account) -> str:
    score = getattr(account, "score", None)
    tier = score.get_tier_display() if score else "not sized yet"
    return f"{account.name} ({tier}" + (f", score {score.score})" if score else ")")


def overdue_line(account: Account) -> str:
    rep = str(account.owner) if account.owner else "nobody"
    return f"{describe(account)}, {rep}, due {when(account.sla_due_at)}"


def more(shown: int, total: int) -> list[str]:
    return [f"... and {total - shown} more on the team page."] if total > shown else []


def render(digest: ManagerDigest, *, now: datetime) -> tuple[str, str]:
    lines = [f"What needs a manager on {timezone.localtime(now):%a %d %b}: {digest.counts}.", ""]
    if digest.unowned_count:
        lines.append(f"Without a rep ({digest.unowned_count}):")
        lines += [f"- {describe(a)}: {link(a)}" for a in digest.unowned]
        lines += [*more(len(digest.unowned), digest.unowned_count), ""]
    if digest.overdue_count:
        lines.append(f"Overdue, not contacted ({digest.overdue_count}):")
        lines += [f"- {overdue_line(a)}: {link(a)}" for a in digest.overdue]
        lines += [*more(len(digest.overdue), digest.overdue_count), ""]
    lines.append(f"Assign them on the team page: {settings.SITE_URL}{reverse('team')}")
    return f"Your pqlsite managers' digest: {digest.counts}", "\n".join(lines)


def slack_list(title: str, items: list[str], total: int) -> dict:
    """One section; Slack's 3,000 characters cut the list, never the count."""
    head = f"*{slack_escape(title)} ({total})*\n"
    body, shown = "", 0
    for item in items:
        line = f"• {item}\n"
        if len(head) + len(body) + len(line) > 2900:
            break
        body, shown = body + line, shown + 1
    if total > shown:
        body += f"… and {total - shown} more"
    return {"type": "section", "text": mrkdwn(head + body)}


def blocks(digest: ManagerDigest, *, now: datetime) -> list[dict]:
    found: list[dict] = [
        {"type": "header", "text": plain(f"Managers' digest, {timezone.localtime(now):%a %d %b}")},
        {"type": "section", "text": mrkdwn(slack_escape(digest.counts))},
    ]
    if digest.unowned_count:
        items = [f"<{link(a)}|{slack_escape(describe(a))}>" for a in digest.unowned]
        found.append(slack_list("Without a rep", items, digest.unowned_count))
    if digest.overdue_count:
        items = [f"<{link(a)}|{slack_escape(overdue_line(a))}>" for a in digest.overdue]
        found.append(slack_list("Overdue, not contacted", items, digest.overdue_count))
    found.append(
        {
            "type": "actions",
            "elements": [
                {"type": "button", "text": plain("Open the team page"), "url": settings.SITE_URL + reverse("team")}
            ],
        }
    )
    return found
