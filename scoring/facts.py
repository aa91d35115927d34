"""Set-based SQL that gathers what the engine needs for many accounts at once:
their attributes, their people, and every event count of a scorecard in one
aggregate query (COUNT ... FILTER per measure, grouped by account)."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Count, DateTimeField, ExpressionWrapper, F, Q, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, TruncDate

from leads.models import Account, Event, Person

from .engine import AccountFacts, Measure, Scorecard
from .terms import Window


def measure_filter(measure: Measure, *, property_alias: str, now: datetime) -> Q:
    condition = Q()
    if measure.event_name:
        condition &= Q(name=measure.event_name)
    if measure.property_key:
        condition &= Q(**{property_alias: measure.property_value})
    if measure.window == Window.AFTER_SIGNUP:
        condition &= Q(
            occurred_at__lte=ExpressionWrapper(
                F("account__signed_up_at") + timedelta(days=measure.window_days),
                output_field=DateTimeField(),
            )
        )
    elif measure.window == Window.LAST_DAYS:
        condition &= Q(occurred_at__gte=now - timedelta(days=measure.window_days))
    elif measure.window == Window.TRIAL:
        condition &= Q(
            account__trial_ends_at__isnull=False,
            occurred_at__gte=F("account__signed_up_at"),
            occurred_at__lte=F("account__trial_ends_at"),
        )
    return condition


def event_counts(
    measures: Iterable[Measure], *, events_in_scope: Q, now: datetime
) -> dict[int, dict[Measure, int]]:
    """Every measure for every account in scope, in one GROUP BY query."""
    measures = sorted(set(measures), key=repr)
    if not measures:
        return {}
    events = Event.objects.filter(events_in_scope)
    names = {measure.event_name for measure in measures}
    if "" not in names:
        events = events.filter(name__in=names)
    aggregates = {}
    for index, measure in enumerate(measures):
        property_alias = f"p{index}"
        if measure.property_key:
            # Compared as text on every backend (SQLite's JSON lookups want JSON literals).
            events = events.alias(
                **{
                    property_alias: Cast(
                        KeyTextTransform(measure.property_key, "properties"), TextField()
                    )
                }
            )
        condition = measure_filter(measure, property_alias=property_alias, now=now) or None
        if measure.distinct_days:
            aggregates[f"m{index}"] = Count(TruncDate("occurred_at"), distinct=True, filter=condition)
        else:
            aggregates[f"m{index}"] = Count("pk", filter=condition)
    rows = events.values("account_id").annotate(**aggregates).order_by()
    return {
        row["account_id"]: {measure: row[f"m{index}"] for index, measure in enumerate(measures)}
        for row in rows
    }


def in_scope(field: str, *, account_ids: Iterable[int] | None, id_range: tuple[int, int] | None) -> Q:
    """Rows whose account is in scope: an id list, an inclusive id range, or all."""
    if account_ids is not None:
        return Q(**{f"{field}__in": list(account_ids)})
    if id_range is not None:
        low, high = id_range
        return Q(**{f"{field}__gte": low, f"{field}__lte": high})
    return Q(**{f"{field}__isnull": False})


def gather_facts(
    card: Scorecard,
    *,
    now: datetime,
    account_ids: Iterable[int] | None = None,
    id_range: tuple[int, int] | None = None,
) -> tuple[list[AccountFacts], dict[int, str]]:
    """Facts for the accounts in scope, and each account's current lead status."""
    if account_ids is not None:
        account_ids = list(account_ids)
    attribute_names = {name.split(".")[0] for name in card.account_fields} | {"employee_count"}
    accounts = Account.objects.filter(
        in_scope("pk", account_ids=account_ids, id_range=id_range)
    ).values("id", "status", *sorted(attribute_names))

    people_by_account = defaultdict(list)
    if card.person_fields:
        person_names = sorted({name.split(".")[0] for name in card.person_fields} | {"email", "name"})
        people = Person.objects.filter(
            in_scope("account_id", account_ids=account_ids, id_range=id_range)
        ).values("account_id", *person_names)
        for person in people:
            people_by_account[person["account_id"]].append(person)

    counts = event_counts(
        card.measures,
        events_in_scope=in_scope("account_id", account_ids=account_ids, id_range=id_range),
        now=now,
    )
    facts, statuses = [], {}
    for account in accounts:
        account_id = account["id"]
        statuses[account_id] = account.pop("status")
        facts.append(
            AccountFacts(
                account_id=account_id,
                attributes=account,
                people=people_by_account.get(account_id, ()),
                counts=counts.get(account_id, {}),
            )
        )
    return facts, statuses
