"""The plan of the demo's accounts: each one's fit data, usage profile and
share of the events, decided before any id exists."""

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate

from ..models import Tier
from .vocabulary import (
    COMPANY_WORDS,
    COUNTRY_TLDS,
    COUNTRY_WEIGHTS,
    EMPLOYEE_BUCKETS,
    INDUSTRY_SUFFIXES,
    INDUSTRY_WEIGHTS,
    LAST_NAMES,
    NAME_WORDS_NOT_IN_DOMAIN,
    PARTNER_FIRM_SUFFIXES,
    PEOPLE_RANGE_BY_BUCKET,
    PLAN_WEIGHTS,
    SIGNUP_SOURCES,
    USE_CASES,
)

DAY = 86_400


def when(timestamp: int) -> datetime:
    """An epoch-seconds time as the aware datetime the rows hold."""
    return datetime.fromtimestamp(timestamp, UTC)


@dataclass(frozen=True)
class Profile:
    """How much an account uses the product, and when."""

    name: str
    share: float
    weight: float
    # This share of the events falls in the first `front_days` after signup.
    front_share: float
    front_days: int
    hand_raising_chance: float
    inviter_chance: float
    activity: dict[str, float]


PROFILES = (
    Profile(
        name="dormant", share=0.45, weight=0.6, front_share=0.8, front_days=3,
        hand_raising_chance=0.02, inviter_chance=0.0,
        activity={"login": 80, "message_sent": 8, "hour_logged": 3, "invite_sent": 1,
                  "channel_created": 1, "file_uploaded": 3, "template_created": 2, "friend_added": 2},
    ),
    Profile(
        name="light", share=0.31, weight=4.0, front_share=0.45, front_days=14,
        hand_raising_chance=0.08, inviter_chance=0.01,
        activity={"login": 35, "message_sent": 30, "hour_logged": 10, "invite_sent": 3,
                  "channel_created": 3, "file_uploaded": 8, "template_created": 5, "friend_added": 6},
    ),
    Profile(
        name="engaged", share=0.18, weight=18.0, front_share=0.6, front_days=14,
        hand_raising_chance=0.18, inviter_chance=0.10,
        activity={"login": 15, "message_sent": 45, "hour_logged": 15, "invite_sent": 4,
                  "channel_created": 5, "file_uploaded": 8, "template_created": 4, "friend_added": 4},
    ),
    Profile(
        name="power", share=0.06, weight=45.0, front_share=0.35, front_days=14,
        hand_raising_chance=0.25, inviter_chance=0.25,
        activity={"login": 8, "message_sent": 60, "hour_logged": 15, "invite_sent": 2,
                  "channel_created": 3, "file_uploaded": 6, "template_created": 2, "friend_added": 4},
    ),
)  # fmt: skip
# Power usage is heavy-tailed: a few accounts send thousands of messages.
POWER_TAIL_ALPHA = 1.5
POWER_TAIL_CAP = 40.0


def tier_for(employee_count: int) -> str:
    """The demo's opportunity size, for matching reps; scoring has its own configurable one."""
    if employee_count <= 50:
        return Tier.SMALL.value
    if employee_count <= 1000:
        return Tier.MID.value
    return Tier.LARGE.value


@dataclass
class AccountPlan:
    """An account's attributes decided before any id exists."""

    name: str
    domain_stem: str
    tld: str
    industry: str
    country: str
    employee_count: int
    plan: str
    signed_up_at: int  # epoch seconds
    traits_json: str
    profile: Profile
    hand_raising: bool
    inviter: bool
    weight: float
    people: int


def _weighted(options: dict) -> tuple[list, list[float]]:
    """Choices and cumulative weights, for random.choices(cum_weights=...)."""
    return list(options), list(accumulate(options.values()))


def plan_accounts(
    *, rng: random.Random, count: int, days: int, anchor_ts: int
) -> list[AccountPlan]:
    """Decide every account's fit data, profile and event weight up front,
    so the events can be split across all of them exactly."""
    industries, industry_cum = _weighted(INDUSTRY_WEIGHTS)
    countries, country_cum = _weighted(COUNTRY_WEIGHTS)
    plan_names, plan_cum = _weighted(PLAN_WEIGHTS)
    sources, source_cum = _weighted(SIGNUP_SOURCES)
    bucket_cum = list(accumulate(share for _, _, share in EMPLOYEE_BUCKETS))
    profile_cum = list(accumulate(profile.share for profile in PROFILES))
    window = days * DAY
    plans: list[AccountPlan] = []
    for _ in range(count):
        industry = rng.choices(industries, cum_weights=industry_cum)[0]
        country = rng.choices(countries, cum_weights=country_cum)[0]
        bucket = rng.choices(range(len(EMPLOYEE_BUCKETS)), cum_weights=bucket_cum)[0]
        fewest, most, _ = EMPLOYEE_BUCKETS[bucket]
        # Log-uniform inside the bucket: small companies are the common ones.
        employee_count = min(most, int(fewest * (most / fewest) ** rng.random()))
        profile = rng.choices(PROFILES, cum_weights=profile_cum)[0]
        weight = profile.weight * (1 + 0.2 * bucket)
        if profile.name == "power":
            weight *= min(POWER_TAIL_CAP, rng.paretovariate(POWER_TAIL_ALPHA))
        # At least a minute before the anchor, so every event fits in between.
        signed_up_at = anchor_ts - 60 - int(rng.random() * (window - 60))
        # An account keeps its pace whatever its age: its share of the events
        # grows with the part of its first days and of its later life it has
        # lived, so a new account's usage is not crammed into its few days
        # nor an old one's thinned out over its months.
        age = anchor_ts - signed_up_at
        weight *= profile.front_share * min(1.0, age / (profile.front_days * DAY)) + (
            1 - profile.front_share
        ) * (age / window)
        name, domain_stem = _company_name(rng=rng, industry=industry)
        fewest_people, most_people = PEOPLE_RANGE_BY_BUCKET[bucket]
        plans.append(
            AccountPlan(
                name=name,
                domain_stem=domain_stem,
                tld=COUNTRY_TLDS[country],
                industry=industry,
                country=country,
                employee_count=employee_count,
                plan=rng.choices(plan_names, cum_weights=plan_cum)[0],
                signed_up_at=signed_up_at,
                traits_json=json.dumps(
                    {
                        "source": rng.choices(sources, cum_weights=source_cum)[0],
                        "use_case": rng.choice(USE_CASES[industry]),
                    }
                ),
                profile=profile,
                hand_raising=rng.random() < profile.hand_raising_chance,
                inviter=rng.random() < profile.inviter_chance,
                weight=weight,
                people=min(employee_count, rng.randint(fewest_people, most_people)),
            )
        )
    return plans


def _company_name(*, rng: random.Random, industry: str) -> tuple[str, str]:
    """A company name and the stem of its domain ("Harbor Legal LLP", "harborlegal")."""
    if industry in PARTNER_FIRM_SUFFIXES and rng.random() < 0.4:
        first, second = rng.sample(LAST_NAMES, 2)
        name = f"{first} & {second} {rng.choice(PARTNER_FIRM_SUFFIXES[industry])}"
    else:
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(INDUSTRY_SUFFIXES[industry])}"
    words = (
        "".join(ch for ch in word if ch.isalnum())
        for word in name.lower().replace("&", " ").split()
    )
    stem = "".join(word for word in words if word and word not in NAME_WORDS_NOT_IN_DOMAIN)
    return name, stem


def split_events(*, weights: Sequence[float], total: int) -> list[int]:
    """Split `total` in proportion to `weights` so the parts add up exactly
    (largest remainder; ties go to the earlier account)."""
    weight_sum = sum(weights)
    if not weights or weight_sum <= 0 or total <= 0:
        return [0] * len(weights)
    quotas = [weight * total / weight_sum for weight in weights]
    counts = [int(quota) for quota in quotas]
    short = total - sum(counts)
    by_remainder = sorted(range(len(weights)), key=lambda i: counts[i] - quotas[i])
    for i in by_remainder[:short]:
        counts[i] += 1
    return counts
