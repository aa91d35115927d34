"""Reads for the reps' and managers' pages: queues in priority order, an
account's timeline and history, and the team's figures. Each is a fixed
number of queries, whatever the queue's length."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, Count, F, IntegerField, Q, Value, When
from django.utils import timezone

from .models import (
    OPEN_LEAD_STATUSES,
    Account,
    Event,
    LeadStatus,
    Note,
    SalesRep,
    StatusChange,
    Tier,
)

TIER_RANK = Case(
    When(score__tier=Tier.LARGE, then=Value(3)),
    When(score__tier=Tier.MID, then=Value(2)),
    default=Value(1),
    output_field=IntegerField(),
)


def by_priority(accounts):
    """Hand-raisers first, then larger tier, then higher score, then longest waiting."""
    return accounts.select_related("score", "owner__user").order_by(
        F("score__triggered").desc(nulls_last=True),
        TIER_RANK.desc(),
        F("score__score").desc(nulls_last=True),
        F("assigned_at").asc(nulls_last=True),
        "pk",
    )


def queue_for(rep: SalesRep, *, status: str | None = None, tier: str | None = None):
    """A rep's open leads in the order to work them."""
    accounts = Account.objects.filter(owner=rep, status__in=OPEN_LEAD_STATUSES)
    return by_priority(filtered(accounts, status=status, tier=tier))


def unassigned_queue(*, status: str | None = None, tier: str | None = None):
    """Open leads nobody holds (no rule matched, the team was full, or their
    rep left): managers assign them by hand."""
    accounts = Account.objects.open_leads().filter(owner__isnull=True)
    return by_priority(filtered(accounts, status=status, tier=tier))


def filtered(accounts, *, status=None, tier=None):
    if status:
        accounts = accounts.filter(status=status)
    if tier:
        accounts = accounts.filter(score__tier=tier)
    return accounts


@dataclass
class Sla:
    """Where a lead stands against its contact deadline."""

    waiting_since: datetime | None
    due_at: datetime | None
    overdue: bool


def sla_of(account: Account, *, now: datetime) -> Sla:
    waiting = account.status == LeadStatus.ASSIGNED
    return Sla(
        waiting_since=account.assigned_at,
        due_at=account.sla_due_at if waiting else None,
        overdue=bool(waiting and account.sla_due_at and account.sla_due_at < now),
    )


def timeline(account: Account):
    """The account's events, newest first."""
    return Event.objects.filter(account=account).select_related("person").order_by("-occurred_at", "-pk")


def history(account: Account):
    return (
        StatusChange.objects.filter(account=account)
        .select_related("changed_by", "owner__user")
        .order_by("-changed_at", "-pk")
    )


def notes(account: Account):
    return Note.objects.filter(account=account).select_related("author")


@dataclass
class RepFigures:
    rep: SalesRep
    open: int
    overdue: int
    contacted: int
    converted: int


def team_figures(*, now: datetime | None = None) -> list[RepFigures]:
    """Per rep: open and overdue leads now, contacted and converted this month.

    Two aggregate queries for the whole team.
    """
    now = now or timezone.now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    reps = SalesRep.objects.select_related("user").annotate(
        open_count=Count("accounts", filter=Q(accounts__status__in=OPEN_LEAD_STATUSES)),
        overdue_count=Count(
            "accounts",
            filter=Q(accounts__status=LeadStatus.ASSIGNED, accounts__sla_due_at__lt=now),
        ),
    )
    outcomes = (
        StatusChange.objects.filter(
            changed_at__gte=month_start,
            to_status__in=[LeadStatus.CONTACTED, LeadStatus.CONVERTED],
            owner__isnull=False,
        )
        .exclude(from_status=F("to_status"))
        .values("owner_id", "to_status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = {(row["owner_id"], row["to_status"]): row["n"] for row in outcomes}
    return [
        RepFigures(
            rep=rep,
            open=rep.open_count,
            overdue=rep.overdue_count,
            contacted=counts.get((rep.pk, LeadStatus.CONTACTED), 0),
            converted=counts.get((rep.pk, LeadStatus.CONVERTED), 0),
        )
        for rep in reps
    ]
