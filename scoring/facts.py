"""Set-based SQL that gathers what the engine needs for many accounts at once:
their attributes, their people, and every event count of a scorecard in one
aggregate query (COUNT ... FILTER per measure, grouped by account)."""

import threading
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, connections
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
    rows = events.values("account_id").annotate(**aggregates).order_by().values_list(
        "account_id", *aggregates
    )
    return {account_id: dict(zip(measures, values, strict=True)) for account_id, *values in rows}


def in_scope(field: str, *, account_ids: Iterable[int] | None) -> Q:
    """Rows whose account is in scope: an id list, or all accounts."""
    if account_ids is not None:
        return Q(**{f"{field}__in": list(account_ids)})
    return Q(**{f"{field}__isnull": False})


PARALLEL_COUNT_FROM = 5_000


def start_counting(measures, *, events_in_scope: Q, now: datetime, many: bool) -> Future:
    """Run event_counts, on a second connection when that is worth it and safe.

    For many accounts the count is the one slow query, and it waits on the
    database, not on Python; outside a transaction it runs beside the reads
    of accounts and people. Inside one (a caller's atomic block, tests) a
    second connection would not see uncommitted rows, so it runs in line, as
    it does for a few accounts, where a new connection costs more than it saves.
    """
    future = Future()
    if not many or connection.in_atomic_block or connection.vendor != "postgresql":
        future.set_result(event_counts(measures, events_in_scope=events_in_scope, now=now))
        return future

    def count():
        try:
            outcome = event_counts(measures, events_in_scope=events_in_scope, now=now)
        except BaseException as error:
            outcome = error
        finally:
            # Closed before the result is handed over, so no caller (or test
            # database teardown) ever sees this connection still open.
            connections.close_all()
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    threading.Thread(target=count, name="event-counts", daemon=True).start()
    return future


@dataclass
class Book:
    """What a rescore reads up front: facts, lead statuses and stored result hashes."""

    facts: list[AccountFacts] = field(default_factory=list)
    statuses: dict[int, str] = field(default_factory=dict)
    digests: dict[int, str | None] = field(default_factory=dict)


def gather_facts(
    card: Scorecard,
    *,
    now: datetime,
    account_ids: Iterable[int] | None = None,
) -> Book:
    """Facts for some accounts (or all): three queries whatever their number."""
    if account_ids is not None:
        account_ids = list(account_ids)
    counted = start_counting(
        card.measures,
        events_in_scope=in_scope("account_id", account_ids=account_ids),
        now=now,
        many=account_ids is None or len(account_ids) > PARALLEL_COUNT_FROM,
    )
    attribute_names = sorted({name.split(".")[0] for name in card.account_fields} | {"employee_count"})
    accounts = Account.objects.filter(in_scope("pk", account_ids=account_ids)).values_list(
        "id", "status", "score__digest", *attribute_names
    )

    people_by_account = defaultdict(list)
    if card.person_fields:
        person_names = sorted({name.split(".")[0] for name in card.person_fields} | {"email", "name"})
        people = Person.objects.filter(in_scope("account_id", account_ids=account_ids)).values_list(
            "account_id", *person_names
        )
        for account_id, *values in people:
            people_by_account[account_id].append(dict(zip(person_names, values, strict=True)))

    counts = counted.result()
    book = Book()
    for account_id, status, digest, *values in accounts:
        book.statuses[account_id] = status
        book.digests[account_id] = digest
        book.facts.append(
            AccountFacts(
                account_id=account_id,
                attributes=dict(zip(attribute_names, values, strict=True)),
                people=people_by_account.get(account_id, ()),
                counts=counts.get(account_id, {}),
            )
        )
    return book
