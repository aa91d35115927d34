"""Reads for the reps' and managers' pages: queues in priority order, an
account's timeline and history, and the team's figures. Each is a fixed
number of queries, whatever the queue's length."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from django.core.cache import cache
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone

from .models import (
    Account,
    Event,
    LeadStatus,
    Note,
    Person,
    SalesRep,
    StatusChange,
)


def by_priority(accounts, *, scored_only: bool = False):
    """Hand-raisers first, then larger tier, then higher score (all three in
    scoring's indexed priority), then longest waiting. Accounts not scored
    yet come last; with scored_only there are none, and the order matches
    the priority index exactly."""
    priority = F("score__priority").desc() if scored_only else F("score__priority").desc(nulls_last=True)
    return accounts.select_related("score", "owner__user").order_by(
        priority, F("assigned_at").asc(nulls_last=True), "pk"
    )


def queue_for(rep: SalesRep, *, status: str | None = None, tier: str | None = None):
    """A rep's open leads in the order to work them."""
    accounts = Account.objects.open_leads().filter(owner=rep)
    return by_priority(filtered(accounts, status=status, tier=tier))


def unassigned_queue(*, status: str | None = None, tier: str | None = None):
    """Open leads nobody holds (no rule matched, the team was full, or their
    rep left): managers assign them by hand.

    Only scored accounts (every account is, after a rescore): the inner join
    lets PostgreSQL walk the priority index instead of sorting every
    unassigned lead on each page view.
    """
    accounts = Account.objects.open_leads().filter(owner__isnull=True, score__priority__isnull=False)
    return by_priority(filtered(accounts, status=status, tier=tier), scored_only=True)


def unassigned_count(*, tier: str | None = None) -> int:
    """How many leads the unassigned queue holds, counted on the account
    index alone (the score join adds nothing to the count but its cost)."""
    accounts = Account.objects.open_leads().filter(owner__isnull=True)
    return (accounts.filter(score__tier=tier) if tier else accounts).count()


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
class BookCounts:
    """Counts every manager's page names the same way (the domain's counting
    words): open leads and qualifying now, over the whole book, now."""

    open_leads: int
    qualifying_now: int


def book_counts() -> BookCounts:
    """Two indexed counts: accounts by status, scores that qualify. The
    scores are counted on their own index: every score has its account, and
    joining the accounts cost ten times the count at 100,000 accounts."""
    scores = Account.score.related.related_model._default_manager  # type: ignore[union-attr]
    return BookCounts(
        open_leads=Account.objects.open_leads().count(),
        qualifying_now=scores.filter(qualifies=True).count(),
    )


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
    reps = SalesRep.objects.select_related("user").with_open_leads().annotate(
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
            open=rep.open_lead_count,
            overdue=rep.overdue_count,
            contacted=counts.get((rep.pk, LeadStatus.CONTACTED), 0),
            converted=counts.get((rep.pk, LeadStatus.CONVERTED), 0),
        )
        for rep in reps
    ]


def new_since_seen(rep: SalesRep, *, seen_at: datetime | None = None):
    """The rep's open leads assigned to them since they last opened their
    queue (all of them before the first visit)."""
    seen_at = seen_at if seen_at is not None else rep.queue_seen_at
    accounts = Account.objects.open_leads().filter(owner=rep)
    return accounts.filter(assigned_at__gt=seen_at) if seen_at else accounts


def is_new(account: Account, *, seen_at: datetime | None) -> bool:
    return bool(account.assigned_at and (seen_at is None or account.assigned_at > seen_at))


EVENT_NAMES_KEY = "leads:event-names-seen"
EVENT_NAMES_SECONDS = 15 * 60
PROPERTY_SAMPLE = 5_000


def event_names_seen() -> dict[str, int]:
    """Every event name received, with how many, most frequent first.

    One GROUP BY over the (name, occurred_at) index, kept in the cache for
    a quarter of an hour: the definition builder asks on every page view,
    and a count over millions of events each time would cost seconds.
    """
    def count() -> dict[str, int]:
        rows = Event.objects.values_list("name").annotate(n=Count("pk")).order_by("-n", "name")
        return dict(rows)

    return cast(dict[str, int], cache.get_or_set(EVENT_NAMES_KEY, count, EVENT_NAMES_SECONDS))


def property_keys_seen() -> list[str]:
    """The property keys of the latest events (a sample read by primary key),
    cached with the names."""
    def keys() -> list[str]:
        recent = Event.objects.order_by("-pk").values_list("properties", flat=True)[:PROPERTY_SAMPLE]
        found = {key for properties in recent if isinstance(properties, dict) for key in properties}
        return sorted(found)

    return cast(list[str], cache.get_or_set(f"{EVENT_NAMES_KEY}:keys", keys, EVENT_NAMES_SECONDS))


def contacts_of(
    accounts: list[Account],
    *,
    hand_raise_events: dict[int, list[str]],
    matched_people: dict[int, list[str]],
) -> dict[int, Person | None]:
    """The person to contact in each account: who raised the hand (the
    latest to do one of its hand-raising events), else whom a title test
    matched (by email or name), else the most active in the last 30 days.

    Two queries for the whole page, whatever its length.
    """
    if not accounts:
        return {}
    since = timezone.now() - timedelta(days=30)
    raised_by: dict[int, int] = {}
    names = sorted({name for found in hand_raise_events.values() for name in found})
    annotated = Account.objects.filter(pk__in=[account.pk for account in accounts]).annotate(
        most_active=Subquery(
            Event.objects.filter(account=OuterRef("pk"), person__isnull=False, occurred_at__gte=since)
            .values("person")
            .annotate(n=Count("pk"))
            .order_by("-n", "person")
            .values("person")[:1]
        ),
        **(
            {
                "raised_by": Subquery(
                    Event.objects.filter(account=OuterRef("pk"), name__in=names, person__isnull=False)
                    .order_by("-occurred_at")
                    .values("person")[:1]
                )
            }
            if names
            else {}
        ),
    )
    rows = annotated.values_list("pk", "most_active", *(["raised_by"] if names else []))
    most_active: dict[int, int | None] = {}
    for pk, active, *raised in rows:
        most_active[pk] = active
        if raised and hand_raise_events.get(pk):
            raised_by[pk] = raised[0]
    wanted = {pk for pk in [*raised_by.values(), *most_active.values()] if pk}
    matches = {who for found in matched_people.values() for who in found}
    people = Person.objects.filter(
        Q(pk__in=wanted)
        | Q(account_id__in=list(matched_people), email__in=matches)
        | Q(account_id__in=list(matched_people), name__in=matches)
    )
    by_pk = {person.pk: person for person in people}
    by_who: dict[tuple[int | None, str], Person] = {}
    for person in by_pk.values():
        for who in (person.email, person.name):
            if who:
                by_who.setdefault((person.account_id, who), person)
    contacts: dict[int, Person | None] = {}
    for account in accounts:
        pk = account.pk
        found = by_pk.get(raised_by.get(pk, 0))
        if found is None:
            found = next(
                (by_who[(pk, who)] for who in matched_people.get(pk, []) if (pk, who) in by_who), None
            )
        contacts[pk] = found or by_pk.get(most_active.get(pk) or 0)
    return contacts
