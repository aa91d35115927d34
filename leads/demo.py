"""Demo and benchmark data: reps, accounts, people, usage events and lead
histories shaped after the DOMAIN cases, reproducible from a seed.

`make run` fills an empty database with it, and the same code measures how
fast a million events go in (`manage.py seed_demo --events 1000000`).
Generation is pure (plain tuples in column order, ids handed in); seed_demo
adds the database side: reps, their teams and routing rules, id reservation
and bulk insertion.
"""

import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models, transaction

from .bulk_insert import insert_rows, reserve_ids
from .groups import SALES_REPS
from .models import (
    Account,
    Event,
    LeadStatus,
    Person,
    Plan,
    RoutingRule,
    SalesRep,
    StatusCause,
    StatusChange,
    Team,
    Tier,
)
from .routing import coverage_holds

DAY = 86_400
CHUNK_SIZE = 1000
EVENT_SOURCE = "demo"
TRIAL_DAYS = 14
# Outcomes only for accounts that had time to be worked.
OUTCOME_MIN_AGE_DAYS = 10
# Worked accounts became PQLs at least this long before the anchor.
PQL_LATEST_DAYS = 3

FIRST_NAMES = (
    "Ava", "Liam", "Olivia", "Noah", "Emma", "Mateo", "Sophia", "Lucas", "Mia", "Ethan",
    "Amelia", "James", "Harper", "Benjamin", "Isabella", "Elijah", "Charlotte", "Daniel",
    "Priya", "Arjun", "Mei", "Hiroshi", "Yuki", "Sofia", "Diego", "Camila", "Lena", "Jonas",
    "Chloe", "Louis", "Freya", "Oscar", "Nora", "Elias", "Aisha", "Omar", "Grace", "Samuel",
    "Zoe", "Gabriel", "Hannah", "Marcus", "Leah", "Victor", "Ines", "Hugo", "Maya", "Felix",
    "Rachel", "David", "Laura", "Thomas", "Anna", "Kevin", "Julia", "Ryan", "Emily", "Sean",
)  # fmt: skip
LAST_NAMES = (
    "Reyes", "Walsh", "Chen", "Patel", "Nguyen", "Kowalski", "Schmidt", "Dubois", "Rossi",
    "Garcia", "Martinez", "Johnson", "Williams", "Brown", "Taylor", "Anderson", "Thomas",
    "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis",
    "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker",
    "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Carter", "Roberts", "Sato", "Tanaka",
    "Kumar", "Singh", "Silva", "Costa", "Larsen", "Berg", "Jansen", "de Vries", "Fischer",
    "Weber", "Novak", "Murphy", "Kelly", "Brennan", "Fraser", "Morgan",
)  # fmt: skip
COMPANY_WORDS = (
    "Harbor", "Northwind", "Summit", "Cedar", "Bluebird", "Granite", "Maple", "Lakeside",
    "Ironwood", "Silverline", "Brightpath", "Redwood", "Oakridge", "Pinecrest", "Riverbend",
    "Stonebridge", "Evergreen", "Westbrook", "Clearwater", "Fairview", "Kestrel", "Lumen",
    "Atlas", "Beacon", "Crescent", "Meridian", "Sterling", "Horizon", "Pioneer", "Keystone",
    "Copperleaf", "Juniper", "Highland", "Bayview", "Foxglove", "Aspen", "Tidewater",
    "Larkspur", "Orchard", "Quarry", "Wren", "Falcon", "Sequoia", "Driftwood", "Ember",
)  # fmt: skip
INDUSTRY_SUFFIXES = {
    "legal": ("Legal LLP", "Law Group", "Law Partners", "Legal", "Litigation LLP"),
    "accounting": ("Accounting", "CPA Group", "Tax & Advisory", "Bookkeeping", "Accountants"),
    "software": ("Analytics", "Labs", "Software", "Systems", "Cloud", "Data"),
    "marketing": ("Marketing", "Creative", "Digital", "Growth Partners", "Agency"),
    "healthcare": ("Health", "Clinic", "Medical Group", "Dental", "Care"),
    "finance": ("Capital", "Financial", "Wealth Partners", "Advisors", "Investments"),
    "education": ("Academy", "Learning", "School", "Tutoring", "Education"),
    "retail": ("Goods", "Outfitters", "Market", "Supply Co.", "Boutique"),
    "manufacturing": ("Manufacturing", "Industries", "Fabrication", "Components", "Works"),
    "nonprofit": ("Foundation", "Trust", "Alliance", "Community Fund", "Society"),
    "media": ("Media", "Studios", "Press", "Productions", "Broadcasting"),
}
# Firms named after their partners ("Reyes & Walsh LLP"), as law and accounting firms are.
PARTNER_FIRM_SUFFIXES = {"legal": ("LLP", "Law"), "accounting": ("& Co.", "CPAs")}
NAME_WORDS_NOT_IN_DOMAIN = frozenset({"llp", "co", "and", "cpas"})

INDUSTRY_WEIGHTS = {
    "legal": 18, "accounting": 14, "software": 13, "marketing": 10, "healthcare": 7,
    "finance": 7, "education": 6, "retail": 7, "manufacturing": 6, "nonprofit": 5, "media": 7,
}  # fmt: skip
COUNTRY_WEIGHTS = {
    "US": 44, "GB": 11, "CA": 9, "DE": 6, "FR": 4, "AU": 6, "NL": 3, "IN": 5, "BR": 4,
    "ES": 3, "SE": 2, "JP": 3,
}  # fmt: skip
COUNTRY_TLDS = {
    "US": "com", "GB": "co.uk", "CA": "ca", "DE": "de", "FR": "fr", "AU": "com.au",
    "NL": "nl", "IN": "in", "BR": "com.br", "ES": "es", "SE": "se", "JP": "co.jp",
}  # fmt: skip
# (fewest, most employees, share of accounts)
EMPLOYEE_BUCKETS = ((1, 10, 35), (11, 50, 30), (51, 200, 20), (201, 1000, 10), (1001, 10000, 5))
PEOPLE_RANGE_BY_BUCKET = ((1, 3), (1, 5), (2, 8), (3, 10), (4, 12))
PLAN_WEIGHTS = {Plan.TRIAL.value: 72, Plan.FREE.value: 28}
SIGNUP_SOURCES = {
    "google": 30, "referral": 18, "direct": 15, "linkedin": 12, "capterra": 8,
    "product_hunt": 5, "partner": 6, "webinar": 6,
}  # fmt: skip
USE_CASES = {
    "legal": ("time tracking", "billing", "matter management", "client intake"),
    "accounting": ("bookkeeping", "client documents", "expense tracking", "time tracking"),
    "software": ("team chat", "project tracking", "incident response"),
    "marketing": ("client collaboration", "campaign planning", "team chat"),
    "healthcare": ("staff scheduling", "team chat"),
    "finance": ("client documents", "compliance", "time tracking"),
    "education": ("class community", "staff chat"),
    "retail": ("staff scheduling", "inventory"),
    "manufacturing": ("shift handover", "quality tracking"),
    "nonprofit": ("volunteer coordination", "community"),
    "media": ("editorial planning", "community"),
}

LEGAL_TITLES = (
    "Associate", "Senior Associate", "Associate", "Paralegal", "Partner", "Managing Partner",
    "Legal Assistant", "Office Administrator", "Administrative Assistant", "Operations Manager",
)  # fmt: skip
ACCOUNTING_TITLES = (
    "Bookkeeper", "Controller", "Accountant", "Senior Accountant", "Tax Manager", "Partner",
    "Office Administrator", "Administrative Assistant",
)  # fmt: skip
SOFTWARE_TITLES = (
    "Founder", "CTO", "Software Engineer", "Software Engineer", "Senior Software Engineer",
    "Product Manager", "Engineering Manager", "Head of Sales", "Designer",
)  # fmt: skip
MARKETING_TITLES = (
    "Marketing Manager", "Founder", "Content Strategist", "Account Manager", "Head of Sales",
    "Designer", "Operations Manager",
)  # fmt: skip
GENERAL_TITLES = (
    "Founder", "CEO", "Operations Manager", "Office Administrator", "Administrative Assistant",
    "Head of Sales", "Marketing Manager", "Bookkeeper", "Controller", "Software Engineer",
    "Project Manager", "Customer Success Manager", "Office Manager", "Director of Operations",
)  # fmt: skip
INDUSTRY_TITLES = {
    "legal": LEGAL_TITLES,
    "accounting": ACCOUNTING_TITLES,
    "finance": ACCOUNTING_TITLES,
    "software": SOFTWARE_TITLES,
    "marketing": MARKETING_TITLES,
    "media": MARKETING_TITLES,
}
SPECIALIST_TITLE_SHARE = 0.8
NO_PERSON_SHARE = 0.05

# Event names with their property variants and how often each variant occurs.
# fmt: off
EVENT_VARIANTS: dict[str, tuple[tuple[dict, float], ...]] = {
    "login": (({"method": "password"}, 6), ({"method": "google"}, 3), ({"method": "sso"}, 1)),
    "message_sent": tuple(
        ({"channel": channel}, weight)
        for channel, weight in (
            ("general", 8), ("random", 3), ("clients", 4), ("support", 3),
            ("sales", 2), ("engineering", 3), ("ops", 2), ("direct", 6),
        )
    ),
    "hour_logged": tuple(
        ({"hours": hours, "billable": billable}, weight * (3 if billable else 1))
        for hours, weight in ((0.25, 2), (0.5, 4), (1.0, 6), (1.5, 5), (2.0, 4), (3.0, 3), (4.0, 2), (6.0, 1), (8.0, 1))
        for billable in (True, False)
    ),
    "invite_sent": (({"role": "member"}, 8), ({"role": "admin"}, 1), ({"role": "guest"}, 2)),
    "channel_created": (({"private": False}, 3), ({"private": True}, 1)),
    "file_uploaded": (
        ({"kind": "invoice"}, 4), ({"kind": "receipt"}, 4), ({"kind": "financial_statement"}, 2),
        ({"kind": "bank_statement"}, 1), ({"kind": "contract"}, 2), ({"kind": "image"}, 3),
        ({"kind": "document"}, 4),
    ),
    "template_created": (
        ({"kind": "invoice"}, 2), ({"kind": "timesheet"}, 2), ({"kind": "engagement_letter"}, 1),
        ({"kind": "message"}, 2),
    ),
    "friend_added": (({"via": "suggestion"}, 5), ({"via": "search"}, 3), ({"via": "import"}, 1)),
    "pricing_page_viewed": (({"plan": "business"}, 5), ({"plan": "pro"}, 3), ({"plan": "enterprise"}, 1)),
    "usage_limit_hit": (
        ({"limit": "messages"}, 5), ({"limit": "seats"}, 2), ({"limit": "storage"}, 2),
        ({"limit": "projects"}, 1),
    ),
    "contact_sales_clicked": (
        ({"placement": "pricing_page"}, 3), ({"placement": "upgrade_dialog"}, 2),
        ({"placement": "settings"}, 1),
    ),
}
# fmt: on
HAND_RAISING_WEIGHTS = {
    "pricing_page_viewed": 3.0,
    "usage_limit_hit": 1.5,
    "contact_sales_clicked": 0.7,
}
HAND_RAISING_NAMES = frozenset(HAND_RAISING_WEIGHTS)
# What each industry does more (or less) of than the profile's baseline.
INDUSTRY_ACTIVITY = {
    "legal": {"hour_logged": 4.0, "template_created": 1.5},
    "accounting": {"hour_logged": 3.0, "file_uploaded": 2.5},
    "finance": {"file_uploaded": 2.0},
    "software": {"message_sent": 1.3, "channel_created": 1.5},
    "marketing": {"message_sent": 1.2, "channel_created": 1.3, "template_created": 1.5},
    "media": {"friend_added": 3.0, "message_sent": 1.2},
    "education": {"friend_added": 3.0},
    "nonprofit": {"friend_added": 2.5},
}
# Accountants upload the financial documents bookkeeping software qualifies on.
FINANCIAL_FILE_INDUSTRIES = frozenset({"accounting", "finance"})
FINANCIAL_FILE_KINDS = frozenset({"invoice", "receipt", "financial_statement", "bank_statement"})


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
WORKED_PROFILES = frozenset({"engaged", "power"})
# Power usage is heavy-tailed: a few accounts send thousands of messages.
POWER_TAIL_ALPHA = 1.5
POWER_TAIL_CAP = 40.0

# (status reached, its share of the accounts that qualify for an outcome)
OUTCOME_SHARES = (
    (LeadStatus.CONTACTED.value, 0.30),
    (LeadStatus.CONVERTED.value, 0.25),
    (LeadStatus.DISQUALIFIED.value, 0.10),
)
CONTACTED_REASONS = (
    "Booked an intro call",
    "Emailed the account owner",
    "Left a voicemail and sent a follow-up",
    "Offered an onboarding session",
)
CONVERTED_REASONS = (
    "Upgraded to the Business plan",
    "Signed an annual contract",
    "Upgraded after the onboarding call",
    "Bought seats for the whole team",
)
DISQUALIFIED_REASONS = (
    "Budget not approved",
    "No decision maker reachable",
    "Student project",
    "Chose a competitor",
    "Personal use only",
)

# Reps by territory; more reps than templates repeat them.
NA = ("US", "CA")
EMEA = ("GB", "DE", "FR", "NL", "ES", "SE")
APAC = ("AU", "JP", "IN")
REP_TERRITORIES = (
    (NA, (Tier.SMALL.value, Tier.MID.value), ()),
    (NA, (Tier.MID.value, Tier.LARGE.value), ()),
    (NA, (), ("legal", "accounting")),
    (EMEA, (), ()),
    (EMEA, (), ("legal", "accounting")),
    (APAC, (), ()),
    (NA, (Tier.SMALL.value,), ()),
    ((), (), ()),
)
REP_EMAIL_DOMAIN = "sales.pqlsite.example"
# Routing for the demo: a team and a rule per territory, in this order.
DEMO_TEAMS = (("North America", NA), ("EMEA", EMEA), ("APAC", APAC), ("Rest of the world", ()))


def tier_for(employee_count: int) -> str:
    """The demo's opportunity size, for matching reps; scoring has its own configurable one."""
    if employee_count <= 50:
        return Tier.SMALL.value
    if employee_count <= 1000:
        return Tier.MID.value
    return Tier.LARGE.value


@dataclass
class RepCoverage:
    """What a rep covers and how many open leads they hold, as generation sees it."""

    rep_id: int
    user_id: int
    countries: tuple[str, ...]
    tiers: tuple[str, ...]
    industries: tuple[str, ...]
    capacity: int
    open_leads: int = 0

    def covers(self, *, country: str, tier: str, industry: str) -> bool:
        # The demo's territories are written in routing's kept form.
        return coverage_holds(self, country=country, tier=tier, industry=industry)

    def has_room(self) -> bool:
        # Demo leads fill at most half of a rep's capacity, so routing in the
        # demo still has somewhere to put new PQLs.
        return self.open_leads < self.capacity // 2


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


@dataclass
class DemoChunk:
    """Rows for a slice of accounts, each a tuple in the order of the *_COLUMNS."""

    accounts: list[tuple] = field(default_factory=list)
    people: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    status_changes: list[tuple] = field(default_factory=list)


ACCOUNT_COLUMNS = (
    "id", "name", "domain", "industry", "country", "employee_count", "plan", "signed_up_at",
    "trial_ends_at", "external_id", "traits", "owner", "status", "last_event_at", "created_at",
    "updated_at",
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


@dataclass(frozen=True)
class SeedCounts:
    accounts: int
    people: int
    events: int
    status_changes: int
    reps_created: int


def _when(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _weighted(options: dict) -> tuple[list, list[float]]:
    """Choices and cumulative weights, for random.choices(cum_weights=...)."""
    return list(options), list(accumulate(options.values()))


@dataclass(frozen=True)
class ActivityTable:
    """(event name, properties JSON) pairs with cumulative weights: one
    random.choices call per account picks every event's name and properties."""

    kinds: list[tuple[str, str]]
    cum_weights: list[float]


def _activity_table(*, profile: Profile, industry: str, hand_raising: bool) -> ActivityTable:
    weights = dict(profile.activity)
    for name, factor in INDUSTRY_ACTIVITY.get(industry, {}).items():
        weights[name] *= factor
    if hand_raising:
        weights.update(HAND_RAISING_WEIGHTS)
    kinds: list[tuple[str, str]] = []
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


def _variant_kinds(name: str) -> tuple[list[tuple[str, str]], list[float]]:
    variants = EVENT_VARIANTS[name]
    return (
        [(name, json.dumps(props)) for props, _ in variants],
        list(accumulate(share for _, share in variants)),
    )


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
                # At least a minute before the anchor, so every event fits in between.
                signed_up_at=anchor_ts - 60 - int(rng.random() * (window - 60)),
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


def build_chunks(
    *,
    rng: random.Random,
    plans: Sequence[AccountPlan],
    event_counts: Sequence[int],
    account_ids: Sequence[int],
    person_ids: Sequence[int],
    anchor_ts: int,
    reps: Sequence[RepCoverage],
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[DemoChunk]:
    """Rows for the planned accounts, `chunk_size` accounts at a time.

    Ids are handed in (reserved by the caller) and drawn on nothing random,
    so the same seed gives the same data whatever ids the database gives
    out; only the ids and what embeds them (domains, external and message
    ids) differ.
    """
    tables: dict[tuple[str, str, bool], ActivityTable] = {}
    hand_raising_kinds = {name: _variant_kinds(name) for name in HAND_RAISING_NAMES}
    invite_kinds, invite_cum = _variant_kinds("invite_sent")
    # Delivery delays cycle through a fixed list: no random call per event.
    delays = [rng.randint(1, 90) for _ in range(64)]
    person_cursor = 0
    for start in range(0, len(plans), chunk_size):
        chunk = DemoChunk()
        for index in range(start, min(start + chunk_size, len(plans))):
            plan = plans[index]
            key = (plan.profile.name, plan.industry, plan.hand_raising)
            if key not in tables:
                tables[key] = _activity_table(
                    profile=plan.profile, industry=plan.industry, hand_raising=plan.hand_raising
                )
            account_person_ids = person_ids[person_cursor : person_cursor + plan.people]
            person_cursor += plan.people
            _build_account(
                rng=rng,
                chunk=chunk,
                plan=plan,
                account_id=account_ids[index],
                person_ids=account_person_ids,
                event_count=event_counts[index],
                table=tables[key],
                hand_raising_kinds=hand_raising_kinds,
                invite_kinds=(invite_kinds, invite_cum),
                delays=delays,
                anchor_ts=anchor_ts,
                reps=reps,
            )
        yield chunk


def _build_account(
    *,
    rng: random.Random,
    chunk: DemoChunk,
    plan: AccountPlan,
    account_id: int,
    person_ids: Sequence[int],
    event_count: int,
    table: ActivityTable,
    hand_raising_kinds: dict[str, tuple[list, list]],
    invite_kinds: tuple[list, list],
    delays: list[int],
    anchor_ts: int,
    reps: Sequence[RepCoverage],
) -> None:
    domain = f"{plan.domain_stem}-{account_id}.{plan.tld}"
    n = event_count
    kinds = rng.choices(table.kinds, cum_weights=table.cum_weights, k=n)
    forced = _forced_kinds(
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

    when = datetime.fromtimestamp
    prefix = f"demo-{account_id}-"
    chunk.events.extend(
        [
            (
                account_id,
                person,
                kind[0],
                kind[1],
                when(at, UTC),
                when(at + delays[k & 63], UTC),
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
    _add_people(
        rng=rng,
        chunk=chunk,
        plan=plan,
        account_id=account_id,
        person_ids=person_ids,
        domain=domain,
        first_seen=first_seen,
        last_seen=last_seen,
    )

    last_event = times[-1] if times else None
    status = LeadStatus.SIGNED_UP.value
    plan_value = plan.plan
    owner_id = None
    updated = max(signup, last_event or signup)
    outcome = _outcome(rng=rng, plan=plan, n=n, anchor_ts=anchor_ts, reps=reps)
    if outcome is not None:
        status, rep = outcome
        owner_id = rep.rep_id
        changes = _history(
            rng=rng,
            account_id=account_id,
            status=status,
            rep=rep,
            signup=signup,
            trigger=_trigger(kinds=kinds, times=times, before=anchor_ts - PQL_LATEST_DAYS * DAY),
            anchor_ts=anchor_ts,
        )
        chunk.status_changes.extend(changes)
        updated = max(updated, int(changes[-1][3].timestamp()))
        if status == LeadStatus.CONVERTED.value:
            plan_value = Plan.PAID.value
    chunk.accounts.append(
        (
            account_id,
            plan.name,
            domain,
            plan.industry,
            plan.country,
            plan.employee_count,
            plan_value,
            _when(signup),
            _when(signup + TRIAL_DAYS * DAY) if plan.plan == Plan.TRIAL.value else None,
            f"acct_{account_id}",
            plan.traits_json,
            owner_id,
            status,
            _when(last_event) if last_event is not None else None,
            _when(signup),
            _when(updated),
        )
    )


def _forced_kinds(
    *,
    rng: random.Random,
    plan: AccountPlan,
    n: int,
    hand_raising_kinds: dict[str, tuple[list, list]],
    invite_kinds: tuple[list, list],
) -> list[tuple[int, tuple[str, str]]]:
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


def _add_people(
    *,
    rng: random.Random,
    chunk: DemoChunk,
    plan: AccountPlan,
    account_id: int,
    person_ids: Sequence[int],
    domain: str,
    first_seen: dict,
    last_seen: dict,
) -> None:
    specialist_titles = INDUSTRY_TITLES.get(plan.industry, GENERAL_TITLES)
    local_parts: set[str] = set()
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
        chunk.people.append(
            (
                person_id,
                account_id,
                f"user_{person_id}",
                f"{local}@{domain}",
                f"{first} {last}",
                rng.choice(titles),
                '{"role": "owner"}' if rank == 0 else '{"role": "member"}',
                _when(seen_first) if seen_first is not None else None,
                _when(seen_last) if seen_last is not None else None,
            )
        )


def _outcome(
    *,
    rng: random.Random,
    plan: AccountPlan,
    n: int,
    anchor_ts: int,
    reps: Sequence[RepCoverage],
) -> tuple[str, RepCoverage] | None:
    """The status a rep brought a worked account to, and the rep; None for
    accounts nobody has worked."""
    if not reps or n == 0:
        return None
    if plan.profile.name not in WORKED_PROFILES and not plan.hand_raising:
        return None
    if plan.signed_up_at > anchor_ts - OUTCOME_MIN_AGE_DAYS * DAY:
        return None
    draw = rng.random()
    status = None
    for candidate, share in OUTCOME_SHARES:
        if draw < share:
            status = candidate
            break
        draw -= share
    if status is None:
        return None
    tier = tier_for(plan.employee_count)
    covering = [
        rep for rep in reps if rep.covers(country=plan.country, tier=tier, industry=plan.industry)
    ]
    # Reps whose territory names the country first; reps covering anywhere
    # take what no territory holds.
    candidates = (
        [rep for rep in covering if plan.country in rep.countries]
        or [rep for rep in reps if plan.country in rep.countries]
        or covering
        or list(reps)
    )
    if status == LeadStatus.CONTACTED.value:
        # A contacted lead stays open and counts against the rep's capacity.
        candidates = [rep for rep in candidates if rep.has_room()] or [
            rep for rep in reps if rep.has_room()
        ]
        if not candidates:
            return None
    rep = rng.choice(candidates)
    if status == LeadStatus.CONTACTED.value:
        rep.open_leads += 1
    return status, rep


def _trigger(*, kinds: list[tuple[str, str]], times: list[int], before: int) -> tuple[str, int]:
    """What made the account a PQL and when: its first hand-raising action,
    else the point where a tenth of its usage was done; only actions before
    `before` count, so the rep has time to work the lead."""
    for (name, _), at in zip(kinds, times, strict=True):
        if at >= before:
            break
        if name in HAND_RAISING_NAMES:
            return name, at
    index = min(len(times) - 1, max(2, len(times) // 10))
    return "product_usage", min(times[index], before)


def _history(
    *,
    rng: random.Random,
    account_id: int,
    status: str,
    rep: RepCoverage,
    signup: int,
    trigger: tuple[str, int],
    anchor_ts: int,
) -> list[tuple]:
    """The account's status changes in order, each after the one before and
    all before the anchor."""
    trigger_name, trigger_at = trigger
    # Scoring notices a few minutes later.
    pql_at = max(trigger_at + 300, signup + 60)
    assigned_at = pql_at + rng.randint(30, 600)
    contacted_at = assigned_at + min(rng.randint(2 * 3600, 3 * DAY), (anchor_ts - assigned_at) // 3)
    none = "{}"
    changes = [
        (
            account_id,
            LeadStatus.SIGNED_UP.value,
            LeadStatus.PQL.value,
            _when(pql_at),
            StatusCause.SCORING.value,
            None,
            "Qualified on product usage",
            json.dumps({"trigger": trigger_name}),
            None,
        ),
        (
            account_id,
            LeadStatus.PQL.value,
            LeadStatus.ASSIGNED.value,
            _when(assigned_at),
            StatusCause.ROUTING.value,
            None,
            "Matched the rep's territory",
            json.dumps({"rep_id": rep.rep_id}),
            rep.rep_id,
        ),
        (
            account_id,
            LeadStatus.ASSIGNED.value,
            LeadStatus.CONTACTED.value,
            _when(contacted_at),
            StatusCause.USER.value,
            rep.user_id,
            rng.choice(CONTACTED_REASONS),
            none,
            rep.rep_id,
        ),
    ]
    if status != LeadStatus.CONTACTED.value:
        closed_at = contacted_at + min(rng.randint(DAY, 21 * DAY), (anchor_ts - contacted_at) // 2)
        reasons = (
            CONVERTED_REASONS if status == LeadStatus.CONVERTED.value else DISQUALIFIED_REASONS
        )
        changes.append(
            (
                account_id,
                LeadStatus.CONTACTED.value,
                status,
                _when(closed_at),
                StatusCause.USER.value,
                rep.user_id,
                rng.choice(reasons),
                none,
                rep.rep_id,
            )
        )
    return changes


def generate_demo(
    *,
    accounts: int,
    days: int,
    events: int,
    seed: int,
    anchor: datetime,
    reps: Sequence[RepCoverage],
    reserve: Callable[[type[models.Model], int], list[int]],
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[DemoChunk]:
    """The whole data set as chunks of rows; `reserve(model, n)` gives ids.

    Planning and id reservation happen in this call (on the caller's thread
    and database connection); only the row building is left to the iterator.
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
        chunk_size=chunk_size,
    )


def ensure_reps(*, count: int, seed: int) -> tuple[list[RepCoverage], int]:
    """The active reps leads can go to: the existing ones if any rep exists,
    else `count` new ones. Returns them and how many were created."""
    if SalesRep.objects.exists():
        existing = (
            SalesRep.objects.filter(is_active=True).with_open_leads().order_by("id")
        )
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
    reps = list(SalesRep.objects.filter(is_active=True).order_by("pk").values_list("pk", "countries"))
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
    leaves nothing behind. `on_progress(n)` is told each time n more
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
