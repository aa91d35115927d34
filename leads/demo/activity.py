"""The usage events of a demo account: which kinds, when, and by whom,
drawn from its profile and industry."""

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from .accounts import DAY, AccountPlan, Profile
from .vocabulary import (
    EVENT_VARIANTS,
    FINANCIAL_FILE_INDUSTRIES,
    FINANCIAL_FILE_KINDS,
    HAND_RAISING_NAMES,
    HAND_RAISING_WEIGHTS,
    INDUSTRY_ACTIVITY,
    NO_PERSON_SHARE,
)

# An event kind: its name and its properties as JSON.
Kind = tuple[str, str]


@dataclass(frozen=True)
class ActivityTable:
    """(event name, properties JSON) pairs with cumulative weights: one
    random.choices call per account picks every event's name and properties."""

    kinds: list[Kind]
    cum_weights: list[float]


def activity_table(*, profile: Profile, industry: str, hand_raising: bool) -> ActivityTable:
    weights = dict(profile.activity)
    for name, factor in INDUSTRY_ACTIVITY.get(industry, {}).items():
        weights[name] *= factor
    if hand_raising:
        weights.update(HAND_RAISING_WEIGHTS)
    kinds: list[Kind] = []
    kind_weights: list[float] = []
    for name, weight in weights.items():
        variants = EVENT_VARIANTS[name]
        if name == "file_uploaded" and industry in FINANCIAL_FILE_INDUSTRIES:
            variants = tuple(
                (props, share * (4 if props["kind"] in FINANCIAL_FILE_KINDS else 1))
                for props, share in variants
            )
        total = sum(share for _, share in variants)
        for props, share in variants:
            kinds.append((name, json.dumps(props)))
            kind_weights.append(weight * share / total)
    return ActivityTable(kinds=kinds, cum_weights=list(accumulate(kind_weights)))


def variant_kinds(name: str) -> tuple[list[Kind], list[float]]:
    variants = EVENT_VARIANTS[name]
    return (
        [(name, json.dumps(props)) for props, _ in variants],
        list(accumulate(share for _, share in variants)),
    )


@dataclass(frozen=True)
class Activity:
    """An account's events in time order: kind, time (epoch seconds) and
    person id (None for an event without one), position by position."""

    kinds: list[Kind]
    times: list[int]
    persons: list[int | None]


def draw_activity(
    *,
    rng: random.Random,
    plan: AccountPlan,
    n: int,
    table: ActivityTable,
    person_ids: Sequence[int],
    hand_raising_kinds: dict[str, tuple[list, list]],
    invite_kinds: tuple[list, list],
    anchor_ts: int,
) -> Activity:
    """`n` events between the account's signup and the anchor."""
    kinds = rng.choices(table.kinds, cum_weights=table.cum_weights, k=n)
    forced = forced_kinds(
        rng=rng, plan=plan, n=n, hand_raising_kinds=hand_raising_kinds, invite_kinds=invite_kinds
    )
    for position, kind in forced:
        kinds[position] = kind

    # Event times: sorted offsets from signup, front-loaded per profile.
    signup = plan.signed_up_at
    span = anchor_ts - signup
    front = min(span, plan.profile.front_days * DAY)
    n_front = round(n * plan.profile.front_share)
    draw = rng.random
    offsets = [int(draw() * front) for _ in range(n_front)]
    offsets += [int(draw() * span) for _ in range(n - n_front)]
    offsets.sort()
    times = [signup + offset for offset in offsets]

    # The first person (who signed up) is the most active; a few events carry no person.
    pool: list[int | None] = [*person_ids, None]
    person_weights = [1 / (rank + 1) for rank in range(len(person_ids))]
    person_weights.append(NO_PERSON_SHARE * sum(person_weights) / (1 - NO_PERSON_SHARE))
    persons = rng.choices(pool, cum_weights=list(accumulate(person_weights)), k=n)
    return Activity(kinds=kinds, times=times, persons=persons)


def forced_kinds(
    *,
    rng: random.Random,
    plan: AccountPlan,
    n: int,
    hand_raising_kinds: dict[str, tuple[list, list]],
    invite_kinds: tuple[list, list],
) -> list[tuple[int, Kind]]:
    """Events an account must have whatever the draw gave: a hand-raising
    action for hand-raisers, more than ten invites for inviters (DOMAIN case 1)."""
    invites = rng.randint(11, 25) if plan.inviter and n >= 40 else 0
    hand = 1 if plan.hand_raising and n > invites else 0
    if not invites and not hand:
        return []
    positions = rng.sample(range(n), invites + hand)
    forced = []
    if hand:
        name = rng.choice(sorted(HAND_RAISING_NAMES))
        kinds, cum = hand_raising_kinds[name]
        forced.append((positions.pop(), rng.choices(kinds, cum_weights=cum)[0]))
    kinds, cum = invite_kinds
    forced.extend(zip(positions, rng.choices(kinds, cum_weights=cum, k=invites), strict=True))
    return forced
