"""The daily digest, for reps who chose it over instant alerts: the leads new
since the last digest, those due today and those overdue, in one email."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from leads.models import (
    FOR_REPS,
    Account,
    AlertTiming,
    DeliveryState,
    LeadStatus,
    OutboxMessage,
    SalesRep,
)

from .compose import when


@dataclass
class Digest:
    rep: SalesRep
    new: list[Account] = field(default_factory=list)
    due: list[Account] = field(default_factory=list)
    overdue: list[Account] = field(default_factory=list)
    held_ids: list[int] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.new or self.due or self.overdue)


def digest_moment(now: datetime) -> datetime:
    """Today's digest time, in the site's time zone."""
    local = timezone.localtime(now)
    return local.replace(hour=settings.ALERTS_DIGEST_HOUR, minute=0, second=0, microsecond=0)


def send_due_digests(*, now: datetime | None = None) -> int:
    """Send the digest to every digest rep not sent one since today's digest
    time (once that time has come). Returns how many emails went out."""
    now = now or timezone.now()
    moment = digest_moment(now)
    if now < moment:
        return 0
    sent = 0
    with transaction.atomic():
        reps = list(
            SalesRep.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(alert_timing=AlertTiming.DIGEST, is_active=True, user__is_active=True)
            .exclude(digest_sent_at__gte=moment)
            .select_related("user")
        )
        digests = gather(reps, now=now)
        mail = get_connection(fail_silently=False)
        try:
            for digest in digests.values():
                if not digest.empty and digest.rep.user.email and digest.rep.alert_by_email:
                    subject, text = render(digest, now=now)
                    mail.send_messages([EmailMessage(subject, text, to=[digest.rep.user.email])])
                    sent += 1
        finally:
            mail.close()
        OutboxMessage.objects.filter(
            pk__in=[pk for digest in digests.values() for pk in digest.held_ids]
        ).update(email_state=DeliveryState.SENT, delivered_at=now)
        SalesRep.objects.filter(pk__in=[rep.pk for rep in reps]).update(digest_sent_at=now)
    return sent


def gather(reps: list[SalesRep], *, now: datetime) -> dict[int, Digest]:
    """Three queries for every rep at once."""
    digests = {rep.pk: Digest(rep=rep) for rep in reps}
    if not digests:
        return digests
    held = (
        OutboxMessage.objects.filter(
            rep_id__in=list(digests), email_state=DeliveryState.HELD, kind__in=list(FOR_REPS)
        )
        .order_by("pk")
        .values_list("pk", "rep_id", "account_id", "kind")
    )
    new_ids: dict[int, list[int]] = {}
    for pk, rep_id, account_id, kind in held:
        digests[rep_id].held_ids.append(pk)
        if kind != "sla_due_soon" and account_id not in new_ids.setdefault(rep_id, []):
            new_ids[rep_id].append(account_id)
    open_leads = Account.objects.filter(
        owner_id__in=list(digests), status__in=[LeadStatus.ASSIGNED, LeadStatus.PQL, LeadStatus.CONTACTED]
    )
    wanted = {account_id for ids in new_ids.values() for account_id in ids}
    by_id = {a.pk: a for a in open_leads.filter(pk__in=wanted).select_related("score")}
    for rep_id, ids in new_ids.items():
        digests[rep_id].new = [by_id[pk] for pk in ids if pk in by_id and by_id[pk].owner_id == rep_id]
    due = (
        open_leads.filter(status=LeadStatus.ASSIGNED, sla_due_at__lt=now + timedelta(days=1))
        .select_related("score")
        .order_by("sla_due_at")
    )
    for account in due:
        digest = digests[account.owner_id]
        (digest.overdue if account.sla_due_at < now else digest.due).append(account)
    return digests


def render(digest: Digest, *, now: datetime) -> tuple[str, str]:
    def line(account: Account) -> str:
        score = getattr(account, "score", None)
        tier = score.get_tier_display() if score else "not sized yet"
        due = f", contact by {when(account.sla_due_at)}" if account.sla_due_at else ""
        return f"- {account.name} ({tier}{due}): {settings.SITE_URL}{reverse('account', args=[account.pk])}"

    counts = f"{len(digest.new)} new, {len(digest.due)} due, {len(digest.overdue)} overdue"
    lines = [f"Your leads on {timezone.localtime(now):%a %d %b}: {counts}.", ""]
    for title, accounts in (("New", digest.new), ("Due today", digest.due), ("Overdue", digest.overdue)):
        if accounts:
            lines += [f"{title}:", *(line(account) for account in accounts), ""]
    lines.append(f"Your queue: {settings.SITE_URL}{reverse('queue')}")
    return f"Your pqlsite digest: {counts}", "\n".join(lines)
