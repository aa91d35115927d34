"""The demo's database side: reps, teams and routing rules, the definition the
histories follow, and the bulk insertion of the rows in one transaction."""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from scoring.engine import Scorecard
from scoring.models import Criterion, Definition, Milestone
from scoring.scorecards import active_scorecard, scorecard_of
from scoring.starter import CRITERIA, MILESTONES, STARTER_NAME, STARTER_THRESHOLD

from ..bulk_insert import insert_rows, reserve_ids
from ..groups import SALES_REPS
from ..models import Account, Event, Person, RoutingRule, SalesRep, StatusChange, Team
from .generation import (
    ACCOUNT_COLUMNS,
    EVENT_COLUMNS,
    PERSON_COLUMNS,
    STATUS_CHANGE_COLUMNS,
    generate_demo,
)
from .histories import RepCoverage
from .vocabulary import DEMO_TEAMS, FIRST_NAMES, LAST_NAMES, REP_EMAIL_DOMAIN, REP_TERRITORIES


@dataclass(frozen=True)
class SeedCounts:
    accounts: int
    people: int
    events: int
    status_changes: int
    reps_created: int


def scorecard_to_follow() -> Scorecard:
    """The definition the book will be scored under: the active one, else the
    starter definition `rescore --starter` activates (built here, not saved)."""
    active = active_scorecard()
    if active is not None:
        return active
    definition = Definition(name=STARTER_NAME, score_threshold=STARTER_THRESHOLD)
    return scorecard_of(
        definition,
        # Unsaved, so numbered here: an explanation tells criteria apart by id.
        criteria=[
            Criterion(pk=number, **fields) for number, fields in enumerate(CRITERIA, start=1)
        ],
        milestones=[
            Milestone(pk=number, **fields) for number, fields in enumerate(MILESTONES, start=1)
        ],
    )


def ensure_reps(*, count: int, seed: int) -> tuple[list[RepCoverage], int]:
    """The active reps leads can go to: the existing ones if any rep exists,
    else `count` new ones. Returns them and how many were created."""
    if SalesRep.objects.exists():
        existing = SalesRep.objects.filter(is_active=True).with_open_leads().order_by("id")
        return [
            RepCoverage(
                rep_id=rep.id,
                user_id=rep.user_id,
                countries=tuple(rep.countries),
                tiers=tuple(rep.tiers),
                industries=tuple(rep.industries),
                capacity=rep.capacity,
                open_leads=rep.open_lead_count,
            )
            for rep in existing
        ], 0
    return _create_reps(count=count, seed=seed), count


def _create_reps(*, count: int, seed: int) -> list[RepCoverage]:
    # A stream of its own, so whether reps are created or reused does not
    # change the accounts generated from the same seed.
    rng = random.Random(f"{seed}:reps")
    User = get_user_model()
    group, _ = Group.objects.get_or_create(name=SALES_REPS)
    taken = set(User.objects.values_list("username", flat=True))
    coverage = []
    for number in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        base = f"{first}.{last}".lower().replace(" ", "")
        username, suffix = base, 2
        while username in taken:
            username, suffix = f"{base}{suffix}", suffix + 1
        taken.add(username)
        # Not staff: reps work their own queue, never the whole book in the admin.
        # Unusable passwords until someone sets one.
        user = User(
            username=username,
            first_name=first,
            last_name=last,
            email=f"{username}@{REP_EMAIL_DOMAIN}",
        )
        user.set_unusable_password()
        user.save()
        user.groups.add(group)
        countries, tiers, industries = REP_TERRITORIES[number % len(REP_TERRITORIES)]
        rep = SalesRep.objects.create(
            user=user,
            capacity=rng.randint(30, 80),
            countries=list(countries),
            tiers=list(tiers),
            industries=list(industries),
        )
        coverage.append(
            RepCoverage(
                rep_id=rep.id,
                user_id=user.id,
                countries=countries,
                tiers=tiers,
                industries=industries,
                capacity=rep.capacity,
            )
        )
    return coverage


@transaction.atomic
def ensure_routing() -> int:
    """A team and a routing rule per demo territory, holding the active reps
    who cover it, unless routing rules exist already; so new PQLs in the demo
    go somewhere. A territory without reps gets none. Returns the rules created."""
    if RoutingRule.objects.exists():
        return 0
    reps = list(
        SalesRep.objects.filter(is_active=True).order_by("pk").values_list("pk", "countries")
    )
    created = 0
    for position, (name, countries) in enumerate(DEMO_TEAMS, start=1):
        members = [pk for pk, covered in reps if tuple(covered or ()) == countries]
        if not members:
            continue
        team, _ = Team.objects.get_or_create(name=name)
        team.members.add(*members)
        RoutingRule.objects.create(
            position=position * 10, name=name, countries=list(countries), team=team
        )
        created += 1
    return created


@transaction.atomic
def seed_demo(
    *,
    accounts: int,
    days: int,
    events: int,
    seed: int,
    anchor: datetime,
    reps: int,
    on_progress: Callable[[int], object] | None = None,
) -> SeedCounts:
    """Generate and insert the demo data in one transaction: a failed seed
    leaves nothing behind. Lead histories follow scorecard_to_follow(), so
    the first rescore finds every account where it belongs. `on_progress(n)` is told each time n more
    accounts are in."""
    coverage, reps_created = ensure_reps(count=reps, seed=seed)
    ensure_routing()
    chunks = generate_demo(
        accounts=accounts,
        days=days,
        events=events,
        seed=seed,
        anchor=anchor,
        reps=coverage,
        reserve=reserve_ids,
        card=scorecard_to_follow(),
        zone=timezone.get_current_timezone(),
    )
    inserted = {"accounts": 0, "people": 0, "events": 0, "status_changes": 0}
    for chunk in chunks:
        inserted["accounts"] += insert_rows(Account, ACCOUNT_COLUMNS, chunk.accounts)
        inserted["people"] += insert_rows(Person, PERSON_COLUMNS, chunk.people)
        inserted["events"] += insert_rows(Event, EVENT_COLUMNS, chunk.events)
        inserted["status_changes"] += insert_rows(
            StatusChange, STATUS_CHANGE_COLUMNS, chunk.status_changes
        )
        if on_progress is not None:
            on_progress(len(chunk.accounts))
    return SeedCounts(**inserted, reps_created=reps_created)
