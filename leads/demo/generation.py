"""The demo data set as rows, pure: accounts, people, events and lead histories
in chunks of plain tuples in column order, ids handed in."""

import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from django.db import models

from scoring.engine import Scorecard

from ..models import Account, LeadStatus, Person, Plan
from .accounts import DAY, AccountPlan, plan_accounts, split_events, when
from .activity import Activity, ActivityTable, activity_table, draw_activity, variant_kinds
from .histories import LeadHistory, RepCoverage, lead_history
from .qualification import Replay
from .vocabulary import (
    FIRST_NAMES,
    GENERAL_TITLES,
    HAND_RAISING_NAMES,
    INDUSTRY_TITLES,
    LAST_NAMES,
    SPECIALIST_TITLE_SHARE,
)

CHUNK_SIZE = 1000
EVENT_SOURCE = "demo"
TRIAL_DAYS = 14


@dataclass
class DemoChunk:
    """Rows for a slice of accounts, each a tuple in the order of the *_COLUMNS."""

    accounts: list[tuple] = field(default_factory=list)
    people: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    status_changes: list[tuple] = field(default_factory=list)


ACCOUNT_COLUMNS = (
    "id", "name", "domain", "industry", "country", "employee_count", "plan", "signed_up_at",
    "trial_ends_at", "external_id", "traits", "owner", "status", "assigned_at", "last_event_at",
    "created_at", "updated_at",
)  # fmt: skip
PERSON_COLUMNS = (
    "id", "account", "external_id", "email", "name", "title", "traits", "first_seen_at",
    "last_seen_at",
)  # fmt: skip
EVENT_COLUMNS = (
    "account", "person", "name", "properties", "occurred_at", "received_at", "source",
    "message_id",
)  # fmt: skip
STATUS_CHANGE_COLUMNS = (
    "account", "from_status", "to_status", "changed_at", "cause", "changed_by", "reason",
    "details", "owner",
)  # fmt: skip


def generate_demo(
    *,
    accounts: int,
    days: int,
    events: int,
    seed: int,
    anchor: datetime,
    reps: Sequence[RepCoverage],
    reserve: Callable[[type[models.Model], int], list[int]],
    card: Scorecard | None,
    zone: tzinfo = UTC,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[DemoChunk]:
    """The whole data set as chunks of rows; `reserve(model, n)` gives ids.

    Lead histories follow `card` (None: no account ever qualified), with
    days counted in `zone`, the site's time zone. Planning and id
    reservation happen in this call (on the caller's thread and database
    connection); only the row building is left to the iterator.
    """
    rng = random.Random(seed)
    anchor_ts = int(anchor.timestamp())
    plans = plan_accounts(rng=rng, count=accounts, days=days, anchor_ts=anchor_ts)
    event_counts = split_events(weights=[plan.weight for plan in plans], total=events)
    account_ids = reserve(Account, len(plans))
    person_ids = reserve(Person, sum(plan.people for plan in plans))
    return build_chunks(
        rng=rng,
        plans=plans,
        event_counts=event_counts,
        account_ids=account_ids,
        person_ids=person_ids,
        anchor_ts=anchor_ts,
        reps=reps,
        replay=Replay(card, zone=zone) if card is not None else None,
        chunk_size=chunk_size,
    )


def build_chunks(
    *,
    rng: random.Random,
    plans: Sequence[AccountPlan],
    event_counts: Sequence[int],
    account_ids: Sequence[int],
    person_ids: Sequence[int],
    anchor_ts: int,
    reps: Sequence[RepCoverage],
    replay: Replay | None,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[DemoChunk]:
    """Rows for the planned accounts, `chunk_size` accounts at a time.

    Ids are handed in (reserved by the caller) and drawn on nothing random,
    so the same seed gives the same data whatever ids the database gives
    out; only the ids and what embeds them (domains, external and message
    ids) differ.
    """
    tables: dict[tuple[str, str, bool], ActivityTable] = {}
    hand_raising_kinds = {name: variant_kinds(name) for name in HAND_RAISING_NAMES}
    invite_kinds = variant_kinds("invite_sent")
    # Delivery delays cycle through a fixed list: no random call per event.
    delays = [rng.randint(1, 90) for _ in range(64)]
    person_cursor = 0
    for start in range(0, len(plans), chunk_size):
        chunk = DemoChunk()
        for index in range(start, min(start + chunk_size, len(plans))):
            plan = plans[index]
            key = (plan.profile.name, plan.industry, plan.hand_raising)
            if key not in tables:
                tables[key] = activity_table(
                    profile=plan.profile, industry=plan.industry, hand_raising=plan.hand_raising
                )
            account_person_ids = person_ids[person_cursor : person_cursor + plan.people]
            person_cursor += plan.people
            activity = draw_activity(
                rng=rng,
                plan=plan,
                n=event_counts[index],
                table=tables[key],
                person_ids=account_person_ids,
                hand_raising_kinds=hand_raising_kinds,
                invite_kinds=invite_kinds,
                anchor_ts=anchor_ts,
            )
            build_account(
                rng=rng,
                chunk=chunk,
                plan=plan,
                account_id=account_ids[index],
                person_ids=account_person_ids,
                activity=activity,
                delays=delays,
                anchor_ts=anchor_ts,
                reps=reps,
                replay=replay,
            )
        yield chunk


def build_account(
    *,
    rng: random.Random,
    chunk: DemoChunk,
    plan: AccountPlan,
    account_id: int,
    person_ids: Sequence[int],
    activity: Activity,
    delays: list[int],
    anchor_ts: int,
    reps: Sequence[RepCoverage],
    replay: Replay | None,
) -> None:
    domain = f"{plan.domain_stem}-{account_id}.{plan.tld}"
    kinds, times, persons = activity.kinds, activity.times, activity.persons
    prefix = f"demo-{account_id}-"
    fromtimestamp = datetime.fromtimestamp
    chunk.events.extend(
        [
            (
                account_id,
                person,
                kind[0],
                kind[1],
                fromtimestamp(at, UTC),
                fromtimestamp(at + delays[k & 63], UTC),
                EVENT_SOURCE,
                f"{prefix}{k}",
            )
            for k, (kind, person, at) in enumerate(zip(kinds, persons, times, strict=True))
        ]
    )
    # Times are sorted, so the last write per person wins for last_seen and,
    # walking backwards, for first_seen.
    last_seen = dict(zip(persons, times, strict=True))
    first_seen = dict(zip(reversed(persons), reversed(times), strict=True))
    people = add_people(
        rng=rng,
        chunk=chunk,
        plan=plan,
        account_id=account_id,
        person_ids=person_ids,
        domain=domain,
        first_seen=first_seen,
        last_seen=last_seen,
    )

    signup = plan.signed_up_at
    trial_ends = signup + TRIAL_DAYS * DAY if plan.plan == Plan.TRIAL.value else None
    last_event = times[-1] if times else None
    history = LeadHistory()
    if replay is not None:
        turns = replay.turns(
            account_id=account_id,
            attributes={
                "name": plan.name,
                "domain": domain,
                "industry": plan.industry,
                "country": plan.country,
                "employee_count": plan.employee_count,
                "plan": plan.plan,
                "signed_up_at": when(signup),
                "trial_ends_at": when(trial_ends) if trial_ends is not None else None,
                "external_id": f"acct_{account_id}",
                "traits": json.loads(plan.traits_json),
            },
            people=people,
            kinds=kinds,
            times=times,
            signed_up_at=signup,
            trial_ends_at=trial_ends,
            until=anchor_ts,
        )
        history = lead_history(
            rng=rng,
            card=replay.card,
            account_id=account_id,
            plan=plan,
            turns=turns,
            reps=reps,
            anchor_ts=anchor_ts,
        )
    chunk.status_changes.extend(history.changes)
    updated = max(signup, last_event or signup, history.last_change_at or signup)
    chunk.accounts.append(
        (
            account_id,
            plan.name,
            domain,
            plan.industry,
            plan.country,
            plan.employee_count,
            Plan.PAID.value if history.status == LeadStatus.CONVERTED.value else plan.plan,
            when(signup),
            when(trial_ends) if trial_ends is not None else None,
            f"acct_{account_id}",
            plan.traits_json,
            history.owner.rep_id if history.owner is not None else None,
            history.status,
            when(history.assigned_at) if history.assigned_at is not None else None,
            when(last_event) if last_event is not None else None,
            when(signup),
            when(updated),
        )
    )


def add_people(
    *,
    rng: random.Random,
    chunk: DemoChunk,
    plan: AccountPlan,
    account_id: int,
    person_ids: Sequence[int],
    domain: str,
    first_seen: dict,
    last_seen: dict,
) -> list[dict]:
    """The account's people as rows, and as the facts a person test reads."""
    specialist_titles = INDUSTRY_TITLES.get(plan.industry, GENERAL_TITLES)
    local_parts: set[str] = set()
    people = []
    for rank, person_id in enumerate(person_ids):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{first}.{last}".lower().replace(" ", "")
        suffix = 2
        while local in local_parts:
            local = f"{first}.{last}{suffix}".lower().replace(" ", "")
            suffix += 1
        local_parts.add(local)
        titles = specialist_titles if rng.random() < SPECIALIST_TITLE_SHARE else GENERAL_TITLES
        seen_first = first_seen.get(person_id)
        seen_last = last_seen.get(person_id)
        role = "owner" if rank == 0 else "member"
        person = {
            "external_id": f"user_{person_id}",
            "email": f"{local}@{domain}",
            "name": f"{first} {last}",
            "title": rng.choice(titles),
            "traits": {"role": role},
        }
        people.append(person)
        chunk.people.append(
            (
                person_id,
                account_id,
                person["external_id"],
                person["email"],
                person["name"],
                person["title"],
                json.dumps(person["traits"]),
                when(seen_first) if seen_first is not None else None,
                when(seen_last) if seen_last is not None else None,
            )
        )
    return people
