"""Who gets a new PQL: ordered routing rules name a team, and the team's rep
with the fewest open leads (and room for one more) gets it.

The planning is pure (plain values in, assignments out); the services around
it read and lock what it needs and record the result through assign_accounts.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import count

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from .models import (
    OPEN_LEAD_STATUSES,
    Account,
    LeadStatus,
    RoutingRule,
    SalesRep,
    StatusCause,
    Team,
    Tier,
    is_away,
)
from .services import Assignment, Unassigned, assign_accounts, record_left_unassigned

# The tier of an account scoring has not sized yet.
DEFAULT_TIER = Tier.SMALL.value


@dataclass(frozen=True)
class LeadToRoute:
    account_id: int
    country: str
    industry: str
    tier: str


# How each part of a coverage is kept: matching ignores how a manager typed it.
COVERAGE_CASE = {"countries": str.upper, "tiers": str.lower, "industries": str.lower}


def normalise_coverage(spec) -> None:
    """Set a frozen spec's countries, tiers and industries to their kept form
    (upper case countries, lower case tiers and industries, no blanks)."""
    for name, case in COVERAGE_CASE.items():
        values = tuple(case(value.strip()) for value in getattr(spec, name) if value.strip())
        object.__setattr__(spec, name, values)


def coverage_holds(spec, *, country: str, tier: str, industry: str) -> bool:
    """Whether what a rule or a rep covers (kept as normalise_coverage keeps
    it) takes this account; an empty part means any."""
    return (
        (not spec.countries or country.strip().upper() in spec.countries)
        and (not spec.tiers or tier.strip().lower() in spec.tiers)
        and (not spec.industries or industry.strip().lower() in spec.industries)
    )


@dataclass(frozen=True)
class RuleSpec:
    """An active routing rule with its team, as planning needs it."""

    id: int
    name: str
    countries: tuple[str, ...]
    tiers: tuple[str, ...]
    industries: tuple[str, ...]
    team_id: int
    team_name: str
    member_rep_ids: tuple[int, ...]
    sla_hours: int

    def __post_init__(self):
        normalise_coverage(self)
        object.__setattr__(self, "member_rep_ids", tuple(self.member_rep_ids))

    def matches(self, lead: LeadToRoute) -> bool:
        return coverage_holds(self, country=lead.country, tier=lead.tier, industry=lead.industry)


@dataclass(frozen=True)
class RepLoad:
    """How busy a rep is: open leads now, capacity and their latest assignment."""

    rep_id: int
    open_leads: int
    capacity: int
    active: bool
    last_assigned_at: datetime | None
    # What the rep covers within their teams; empty means any.
    countries: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    # On holiday: keeps their leads, gets no new ones.
    away: bool = False

    def __post_init__(self):
        normalise_coverage(self)

    @property
    def has_room(self) -> bool:
        return self.active and not self.away and self.open_leads < self.capacity

    def covers(self, lead: LeadToRoute) -> bool:
        return coverage_holds(self, country=lead.country, tier=lead.tier, industry=lead.industry)


def first_matching_rule(lead: LeadToRoute, rules: Sequence[RuleSpec]) -> RuleSpec | None:
    """Rules are in order; the first that matches wins."""
    return next((rule for rule in rules if rule.matches(lead)), None)


def fairness_key(load: RepLoad, picked: int = -1) -> tuple:
    # Fewest open leads first; then whoever waited longest for a lead (never
    # assigned comes first); within a batch, where every pick has the same
    # time, whoever was picked earlier; the rep id makes it deterministic.
    return (
        load.open_leads,
        load.last_assigned_at is not None,
        load.last_assigned_at or datetime.min.replace(tzinfo=UTC),
        picked,
        load.rep_id,
    )


def choose_reps(
    leads: Iterable[LeadToRoute],
    rules: Sequence[RuleSpec],
    loads: Iterable[RepLoad],
    *,
    now: datetime,
) -> dict[int, Assignment]:
    """Decide who gets each lead, in order. Each pick counts against the
    rep's load at once, so a batch spreads across the team and never puts a
    rep over capacity. A lead nobody can take gets rep_id None and says why.
    """
    loads_by_rep = {load.rep_id: load for load in loads}
    picks: dict[int, int] = {}  # rep id -> when in this batch they last got a lead
    sequence = count()
    plan = {}
    for lead in leads:
        rule = first_matching_rule(lead, rules)
        if not rules:
            plan[lead.account_id] = Assignment(
                rep_id=None, reason="No routing rules are set up", unassigned=Unassigned.NO_RULES
            )
            continue
        if rule is None:
            plan[lead.account_id] = Assignment(
                rep_id=None,
                reason=(
                    f"No routing rule matches (country={lead.country or '-'}, "
                    f"tier={lead.tier}, industry={lead.industry or '-'})"
                ),
                unassigned=Unassigned.NO_RULE,
            )
            continue
        team = [loads_by_rep[rep_id] for rep_id in rule.member_rep_ids if rep_id in loads_by_rep]
        with_room = [load for load in team if load.has_room and load.covers(lead)]
        if not with_room:
            why, code = nobody_available(rule.team_name, [load for load in team if load.active], lead)
            plan[lead.account_id] = Assignment(
                rep_id=None, reason=f"{why} (rule '{rule.name}')", team_id=rule.team_id, unassigned=code
            )
            continue
        chosen = min(with_room, key=lambda load: fairness_key(load, picks.get(load.rep_id, -1)))
        loads_by_rep[chosen.rep_id] = replace(
            chosen, open_leads=chosen.open_leads + 1, last_assigned_at=now
        )
        picks[chosen.rep_id] = next(sequence)
        plan[lead.account_id] = Assignment(
            rep_id=chosen.rep_id,
            reason=f"Routed by rule '{rule.name}' to team '{rule.team_name}'",
            sla_due_at=now + timedelta(hours=rule.sla_hours),
            team_id=rule.team_id,
        )
    return plan


def nobody_available(team_name: str, active: list[RepLoad], lead: LeadToRoute) -> tuple[str, Unassigned]:
    """Why no rep of a team can take a lead, in words and as a code."""
    if not active:
        return f"Team '{team_name}' has no active reps", Unassigned.NO_ACTIVE_REP
    covering = [load for load in active if load.covers(lead)]
    if not covering:
        return f"No rep of team '{team_name}' covers this account", Unassigned.NOT_COVERED
    away = sum(load.away for load in covering)
    if away == len(covering):
        return f"Every rep of team '{team_name}' who covers this account is away", Unassigned.TEAM_AWAY
    if away:
        return f"Team '{team_name}' is at capacity ({away} away)", Unassigned.TEAM_FULL
    return f"Team '{team_name}' is at capacity", Unassigned.TEAM_FULL


# The database side.


def active_rules() -> list[RuleSpec]:
    """The active rules in order, with their teams' members (two queries)."""
    rules = list(
        RoutingRule.objects.filter(is_active=True).select_related("team").order_by("position", "id")
    )
    members: dict[int, list[int]] = {}
    memberships = Team.members.through.objects.filter(
        team_id__in={rule.team_id for rule in rules}
    ).order_by("salesrep_id")
    for team_id, rep_id in memberships.values_list("team_id", "salesrep_id"):
        members.setdefault(team_id, []).append(rep_id)
    return [
        RuleSpec(
            id=rule.pk,
            name=rule.name,
            countries=tuple(rule.countries or ()),
            tiers=tuple(rule.tiers or ()),
            industries=tuple(rule.industries or ()),
            team_id=rule.team_id,
            team_name=rule.team.name,
            member_rep_ids=tuple(members.get(rule.team_id, ())),
            sla_hours=rule.team.sla_hours,
        )
        for rule in rules
    ]


def locked_loads(rep_ids: Iterable[int]) -> list[RepLoad]:
    """Lock the reps' rows (in id order, so workers never deadlock on them),
    then count their open leads. Whoever assigns to these reps takes the same
    locks first, so the counts stay true until this transaction ends."""
    rep_ids = sorted(set(rep_ids))
    if not rep_ids:
        return []
    now = timezone.now()
    reps = list(
        SalesRep.objects.select_for_update(of=("self",))
        .filter(pk__in=rep_ids)
        .order_by("pk")
        .values_list(
            "pk",
            "capacity",
            "is_active",
            "user__is_active",
            "countries",
            "tiers",
            "industries",
            "away_from",
            "away_until",
        )
    )
    counts = {
        row["owner_id"]: row
        for row in Account.objects.filter(owner_id__in=rep_ids)
        .order_by()
        .values("owner_id")
        .annotate(
            open_leads=Count("pk", filter=Q(status__in=OPEN_LEAD_STATUSES)),
            last_assigned_at=Max("assigned_at"),
        )
    }
    return [
        RepLoad(
            rep_id=rep_id,
            open_leads=counts.get(rep_id, {}).get("open_leads", 0),
            capacity=capacity,
            # A rep whose user can no longer sign in could not work the lead.
            active=is_active and user_is_active,
            last_assigned_at=counts.get(rep_id, {}).get("last_assigned_at"),
            countries=tuple(countries or ()),
            tiers=tuple(tiers or ()),
            industries=tuple(industries or ()),
            away=is_away(away_from, away_until, now),
        )
        for rep_id, capacity, is_active, user_is_active, countries, tiers, industries, away_from, away_until in reps
    ]


def leads_to_route(accounts) -> list[LeadToRoute]:
    """Lock the accounts (a worker that assigned one first has committed by
    the time we read it) and read what the rules match on. The tier is
    scoring's, through the account's score; unscored accounts count as small."""
    rows = (
        accounts.select_for_update(of=("self",))
        .order_by("pk")
        .values_list("pk", "country", "industry", "score__tier")
    )
    return [
        LeadToRoute(
            account_id=pk, country=(country or "").upper(), industry=industry or "", tier=tier or DEFAULT_TIER
        )
        for pk, country, industry, tier in rows
    ]


def route(
    leads: list[LeadToRoute], *, exclude_rep_id: int | None = None, now: datetime
) -> dict[int, Assignment]:
    """Plan the leads under the active rules, with the reps they could go to locked."""
    if not leads:
        return {}
    rules = active_rules()
    if exclude_rep_id is not None:
        rules = [
            replace(rule, member_rep_ids=tuple(r for r in rule.member_rep_ids if r != exclude_rep_id))
            for rule in rules
        ]
    matched = {rule for lead in leads if (rule := first_matching_rule(lead, rules)) is not None}
    rep_ids = {rep_id for rule in matched for rep_id in rule.member_rep_ids}
    if exclude_rep_id is not None:
        # Locked with the others, in id order: taking it alone later could
        # deadlock with a worker routing to it.
        rep_ids.add(exclude_rep_id)
    loads = [load for load in locked_loads(rep_ids) if load.rep_id != exclude_rep_id]
    return choose_reps(leads, rules, loads, now=now)


def assign_new_pqls(account_ids: Iterable[int]) -> list[int]:
    """Route the PQLs among these accounts that nobody holds yet, in the
    caller's transaction. Those no rep can take stay in the unassigned queue
    (PQL, no owner). Returns the ids that got a rep."""
    ids = list(account_ids)
    if not ids:
        return []  # no savepoint either: rescoring calls this for every chunk
    with transaction.atomic():
        leads = leads_to_route(
            Account.objects.filter(pk__any=ids, status=LeadStatus.PQL, owner__isnull=True)
        )
        plan = route(leads, now=timezone.now())
        assignments = {
            account_id: assignment for account_id, assignment in plan.items() if assignment.rep_id
        }
        if len(assignments) < len(plan):
            # Kept in the unassigned queue, with the reason in the history.
            record_left_unassigned(assignments=plan, cause=StatusCause.ROUTING)
        if not assignments:
            return []
        return assign_accounts(assignments=assignments, cause=StatusCause.ROUTING)


@transaction.atomic
def deactivate_rep(rep: SalesRep, *, changed_by=None) -> list[int]:
    """Make a rep inactive (no new leads) and route their open leads (PQL,
    assigned, contacted) again, to anyone but them; a lead no other rep can
    take goes to the unassigned queue. Closed leads (converted, disqualified)
    stay theirs. Returns the ids that changed hands."""
    leads = leads_to_route(Account.objects.open_leads().filter(owner=rep))
    now = timezone.now()
    plan = route(leads, exclude_rep_id=rep.pk, now=now)
    SalesRep.objects.filter(pk=rep.pk).update(is_active=False)
    rep.is_active = False
    if not plan:
        return []
    assignments = {
        account_id: replace(assignment, reason=f"Reassigned from {rep}: {assignment.reason}")
        for account_id, assignment in plan.items()
    }
    return assign_accounts(assignments=assignments, cause=StatusCause.ROUTING, changed_by=changed_by)


def hand_refusal(
    *, rep: SalesRep | str, active: bool, open_leads: int, capacity: int, incoming: int
) -> str | None:
    """Why a rep cannot take `incoming` more leads by hand, or None."""
    if not active:
        return f"{rep} is inactive and takes no leads."
    room = max(capacity - open_leads, 0)
    if not room and incoming:
        return f"{rep} is at capacity: {open_leads} of {capacity} open leads."
    if incoming > room:
        return f"{rep} has room for {room} more open leads, not {incoming}."
    return None


def closed_refusal(name: str, status: str) -> str | None:
    if status in OPEN_LEAD_STATUSES:
        return None
    return (
        f"{name} is {LeadStatus(status).label.lower()}: only open leads "
        "(PQL, assigned, contacted) change hands."
    )


@transaction.atomic
def reassign_by_hand(account_ids: Iterable[int], rep: SalesRep | None, *, changed_by) -> list[int]:
    """A manager gives open leads to a rep, or back to the unassigned queue
    with rep None. Refuses a rep who is inactive or has no room for them, and
    accounts that are not open leads, with a ValueError that says why.
    Returns the ids that changed hands."""
    # Accounts before reps, in the order routing locks them: the two never deadlock.
    accounts = list(
        Account.objects.select_for_update()
        .filter(pk__in=set(account_ids))
        .order_by("pk")
        .values_list("pk", "name", "status", "owner_id")
    )
    for _, name, status, _ in accounts:
        if problem := closed_refusal(name, status):
            raise ValueError(problem)
    who = changed_by or "a manager"
    if rep is None:
        assignments = {pk: Assignment(rep_id=None, reason=f"Unassigned by {who}") for pk, *_ in accounts}
        return assign_accounts(assignments=assignments, cause=StatusCause.USER, changed_by=changed_by)
    loads = locked_loads([rep.pk])
    if not loads:
        raise ValueError(f"{rep} no longer exists.")
    problem = hand_refusal(
        rep=rep,
        active=loads[0].active,
        open_leads=loads[0].open_leads,
        capacity=loads[0].capacity,
        incoming=sum(1 for *_, owner_id in accounts if owner_id != rep.pk),
    )
    if problem:
        raise ValueError(problem)
    due = timezone.now() + timedelta(hours=settings.DEFAULT_SLA_HOURS)
    assignments = {
        pk: Assignment(rep_id=rep.pk, reason=f"Reassigned by {who}", sla_due_at=due)
        for pk, *_ in accounts
    }
    return assign_accounts(assignments=assignments, cause=StatusCause.USER, changed_by=changed_by)
