"""Set-based SQL that gathers what the engine needs for many accounts at once:
their attributes, their people, and every event count of a scorecard in one
aggregate query (COUNT ... FILTER per measure, grouped by account)."""

import queue
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from django.db import connection, connections, transaction
from django.db.models import (
    Aggregate,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    FilteredRelation,
    Lookup,
    Min,
    Q,
    QuerySet,
    TextField,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, TruncDate
from django.utils.dateparse import parse_datetime
from django.utils.timezone import get_current_timezone_name, is_naive, make_aware

from leads.models import Account, Event, Person

from .compiled import Compiled, compiled, fetch_rows, sql_of
from .engine import AccountFacts, AttributeTest, Measure, Scorecard, lookup
from .terms import Window

# Windows that read the account's own dates: counting them joins the accounts.
DATED = (Window.AFTER_SIGNUP, Window.TRIAL)


def measure_filter(
    measure: Measure, *, property_alias: str, now: datetime, account: str = "account"
) -> Q:
    """Which events a measure counts; `account` is the relation its window
    reads the account's dates through."""
    condition = Q()
    if measure.event_name:
        condition &= Q(name=measure.event_name)
    if measure.property_key:
        condition &= Q(**{property_alias: measure.property_value})
    if measure.window == Window.AFTER_SIGNUP:
        # Within D days after signup: not before it either.
        condition &= Q(
            occurred_at__gte=F(f"{account}__signed_up_at"),
            occurred_at__lte=ExpressionWrapper(
                F(f"{account}__signed_up_at") + measure.span,
                output_field=DateTimeField(),
            )
        )
    elif measure.window == Window.LAST_DAYS:
        condition &= Q(occurred_at__gte=now - measure.span)
    elif measure.window == Window.TRIAL:
        condition &= Q(
            **{f"{account}__trial_ends_at__isnull": False},
            occurred_at__gte=F(f"{account}__signed_up_at"),
            occurred_at__lte=F(f"{account}__trial_ends_at"),
        )
    return condition


@dataclass(frozen=True)
class CountColumns:
    """How to read a row of the counts query: account id, a count per
    measure, then the oldest counted event of each "last D days" measure
    (when its count next drops with time alone)."""

    measures: tuple[Measure, ...]
    windowed: tuple[Measure, ...]

    def read(self, row: tuple) -> tuple[dict[Measure, int], dict[Measure, datetime]]:
        width = len(self.measures)
        counts = dict(zip(self.measures, row[1 : width + 1], strict=True))
        oldest = {
            measure: as_datetime(at)
            for measure, at in zip(self.windowed, row[width + 1 :], strict=True)
            if at is not None
        }
        return counts, oldest


def as_datetime(value) -> datetime:
    """An aggregate's time as the driver gives it: PostgreSQL's is a datetime
    already, SQLite's is text."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return make_aware(value) if is_naive(value) else value


def count_query(measures: Iterable[Measure], *, account_ids: list[int] | None, now: datetime):
    """How to read its rows, and the GROUP BY query giving (account_id,
    *counts, *oldest counted) rows in account order, for the accounts in
    scope (an id list, or all)."""
    measures = sorted(set(measures), key=repr)
    events = Event.objects.all()
    account = "account"
    if account_ids is not None and any(measure.window in DATED for measure in measures):
        # The list narrows the accounts joined for their dates, and the events
        # through them: PostgreSQL does not carry a list across a join, and
        # hashed all 100,000 accounts (30 ms) to count five accounts' events
        # (1 ms). Not the events as well: in a plan kept for any list, each
        # account's scan of its events would walk the whole list again.
        account = "scoped_account"
        events = events.alias(
            scoped_account=FilteredRelation(
                "account", condition=in_scope("account__id", account_ids=account_ids)
            )
        ).filter(**{f"{account}__isnull": False})
    else:
        events = events.filter(in_scope("account_id", account_ids=account_ids))
    names = {measure.event_name for measure in measures}
    if "" not in names:
        events = events.filter(name__in=names)
    aggregates: dict[str, Aggregate] = {}
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
        condition = (
            measure_filter(measure, property_alias=property_alias, now=now, account=account) or None
        )
        if measure.distinct_days:
            aggregates[f"m{index}"] = Count(TruncDate("occurred_at"), distinct=True, filter=condition)
        else:
            aggregates[f"m{index}"] = Count("pk", filter=condition)
    windowed = [measure for measure in measures if measure.window == Window.LAST_DAYS]
    for index, measure in enumerate(windowed):
        # Where the count first drops: the oldest event it counts leaves the window.
        condition = measure_filter(
            measure, property_alias=f"p{measures.index(measure)}", now=now, account=account
        )
        aggregates[f"o{index}"] = Min("occurred_at", filter=condition)
    rows = (
        events.values("account_id")
        .annotate(**aggregates)
        .order_by("account_id")
        .values_list("account_id", *aggregates)
    )
    return CountColumns(tuple(measures), tuple(windowed)), rows


CountsByAccount = dict[int, tuple[dict[Measure, int], dict[Measure, datetime]]]


def event_counts(
    measures: Iterable[Measure], *, account_ids: list[int] | None, now: datetime
) -> CountsByAccount:
    """Every measure for every account in scope, in one GROUP BY query:
    the counts, and the oldest event each "last D days" measure counts."""
    measures = frozenset(measures)
    if not measures:
        return {}
    if account_ids is not None and lists_compile_once():
        columns, query = counts_of_listed(measures, get_current_timezone_name())
        fetched = query.fetch(account_ids, now=now)
    else:
        columns, rows = count_query(measures, account_ids=account_ids, now=now)
        fetched = fetch_rows(rows, convert=False)
    read = columns.read
    return {row[0]: read(row) for row in fetched}


class AnyOf(Lookup):
    """`column = ANY(ids)` (PostgreSQL): the ids in one array parameter, so
    that a query's text is the same for any number of accounts."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*params, self.rhs)


def in_scope(field: str, *, account_ids: Iterable[int] | None) -> Q:
    """Rows whose account is in scope: an id list, or all accounts."""
    if account_ids is None:
        return Q(**{f"{field}__isnull": False})
    if lists_compile_once():
        listed = account_ids if isinstance(account_ids, list) else list(account_ids)
        return Q(AnyOf(F(field), listed))
    return Q(**{f"{field}__in": list(account_ids)})


def lists_compile_once() -> bool:
    """Whether the queries for a list of accounts are compiled once (see
    ListedQuery): PostgreSQL takes the list as one array parameter."""
    return connection.vendor == "postgresql"


class Listed(list):
    """Stands for the accounts in scope among a compiled query's parameters
    (a list type of its own, so it is recognised in any copy)."""


# The clock the queries for a list of accounts are compiled against: a "last
# D days" boundary is this less D days, moved to the caller's clock each run.
COMPILED_AT = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ListedQuery:
    """A facts query for a list of accounts, compiled once per definition and
    run for any accounts at any clock.

    The time-driven pass and the drain jobs score a handful of accounts at a
    time, where building and compiling the ORM query cost more than running
    it. The text is the same for every list, so PostgreSQL also parses and
    plans it once per connection (psycopg prepares a statement run often).
    """

    query: Compiled

    @classmethod
    def of(cls, rows: QuerySet, *, windows: Iterable = (), convert: bool = True) -> "ListedQuery":
        """The query compiled with Listed() for the accounts and COMPILED_AT
        for now; every time among its parameters must be a window's start."""
        query = compiled(rows, convert=convert)
        starts = {COMPILED_AT - span for span in windows}
        unknown = [p for p in query.params if isinstance(p, datetime) and p not in starts]
        if unknown:
            raise ValueError(f"Times that do not follow the clock: {unknown}")
        return cls(query)

    def fetch(self, account_ids: list[int], *, now: datetime = COMPILED_AT) -> list[tuple]:
        """The rows for these accounts, every window's start moved to `now`."""
        shift = now - COMPILED_AT
        params = []
        for param in self.query.params:
            if isinstance(param, Listed):
                param = account_ids
            elif isinstance(param, datetime):
                param += shift
            params.append(param)
        return self.query.fetch(params)


@lru_cache(maxsize=16)
def counts_of_listed(
    measures: frozenset[Measure], timezone_name: str
) -> tuple[CountColumns, ListedQuery]:
    """The count query for a list of accounts; days active are days in the
    current time zone, named in the query."""
    columns, rows = count_query(measures, account_ids=Listed(), now=COMPILED_AT)
    windows = [measure.span for measure in columns.windowed]
    return columns, ListedQuery.of(rows, windows=windows, convert=False)


PARALLEL_COUNT_FROM = 5_000


def start_counting(measures, *, account_ids: list[int] | None, now: datetime, many: bool) -> Future:
    """Run event_counts, on a second connection when that is worth it and safe.

    For many accounts the count is the one slow query, and it waits on the
    database, not on Python; outside a transaction it runs beside the reads
    of accounts and people. Inside one (a caller's atomic block, tests) a
    second connection would not see uncommitted rows, so it runs in line, as
    it does for a few accounts, where a new connection costs more than it saves.
    """
    if not many or connection.in_atomic_block or connection.vendor != "postgresql":
        future: Future = Future()
        future.set_result(event_counts(measures, account_ids=account_ids, now=now))
        return future

    def count():
        try:
            return event_counts(measures, account_ids=account_ids, now=now)
        finally:
            # Closed before the result is handed over, so no caller (or test
            # database teardown) ever sees this connection still open.
            connections.close_all()

    counting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-counts")
    future = counting.submit(count)
    counting.shutdown(wait=False)
    return future


NO_COUNTS: tuple[dict, dict] = ({}, {})


@dataclass
class RescoreInput:
    """What a rescore reads up front for the accounts in scope: their facts,
    lead statuses and stored result hashes."""

    facts: list[AccountFacts] = field(default_factory=list)
    statuses: dict[int, str] = field(default_factory=dict)
    digests: dict[int, str | None] = field(default_factory=dict)

    def add(self, row: tuple, *, attribute_names, people_by_account, counted=NO_COUNTS) -> None:
        """One row of accounts_of(): id, status, stored digest, then
        attributes; `counted` is the account's counts and oldest counted events."""
        account_id = row[0]
        self.statuses[account_id] = row[1]
        self.digests[account_id] = row[2]
        self.facts.append(
            AccountFacts(
                account_id,
                dict(zip(attribute_names, row[3:], strict=True)),
                people_by_account.get(account_id, ()),
                *counted,
            )
        )


def attribute_names_of(card: Scorecard) -> list[str]:
    return sorted({name.split(".")[0] for name in card.account_fields} | {"employee_count"})


def accounts_of(card: Scorecard, *, account_ids: list[int] | None) -> list[tuple]:
    """id, status, stored digest and the tested attributes of each account, in id order."""
    names = tuple(attribute_names_of(card))
    if account_ids is not None and lists_compile_once():
        return listed_accounts_query(names).fetch(account_ids)
    return fetch_rows(accounts_query(names, account_ids=account_ids))


def accounts_query(names: tuple[str, ...], *, account_ids: list[int] | None) -> QuerySet:
    accounts = Account.objects.filter(in_scope("pk", account_ids=account_ids)).order_by("pk")
    return accounts.values_list("id", "status", "score__digest", *names)


@lru_cache(maxsize=16)
def listed_accounts_query(names: tuple[str, ...]) -> ListedQuery:
    return ListedQuery.of(accounts_query(names, account_ids=Listed()))


def people_of(card: Scorecard, *, account_ids: list[int] | None) -> dict[int, list[dict]]:
    """The people of each account whom a person test holds for, with the
    fields the tests read, in the order the tests read them (name, email).

    A person test reports the first person it holds for, so the others
    change no result: they are read as plain rows and left out, and only
    the people that matter become dicts. Nothing is read when no criterion
    tests a person.
    """
    people_by_account: defaultdict[int, list[dict]] = defaultdict(list)
    tests = card.person_tests
    if not tests:
        return people_by_account
    names = tuple(sorted({test.field.split(".")[0] for test in tests} | {"email", "name"}))
    position = {name: index for index, name in enumerate(names, start=1)}
    checks = [person_check(test, position[test.field.split(".")[0]]) for test in tests]
    if account_ids is not None and lists_compile_once():
        rows = listed_people_query(names).fetch(account_ids)
    else:
        people = Person.objects.filter(in_scope("account_id", account_ids=account_ids))
        if account_ids is None:
            people = people.filter(holding_values(tests, people))
        rows = fetch_rows(people_query(people, names))
    for row in rows:
        for holds in checks:
            if holds(row):
                people_by_account[row[0]].append(dict(zip(names, row[1:], strict=True)))
                break
    return people_by_account


def people_query(people: QuerySet, names: tuple[str, ...]) -> QuerySet:
    return people.order_by("account_id", "name", "email", "pk").values_list("account_id", *names)


@lru_cache(maxsize=16)
def listed_people_query(names: tuple[str, ...]) -> ListedQuery:
    listed = Person.objects.filter(in_scope("account_id", account_ids=Listed()))
    return ListedQuery.of(people_query(listed, names))


DISTINCT_VALUES_TESTED = 1_000


def holding_values(tests, people: QuerySet) -> Q:
    """People whose tested field has a value some test holds for, when the
    book has few distinct values (titles, not emails): the tests judge
    each distinct value once and the database reads only those people.
    Q() (everyone) for a trait or a field with too many values."""
    narrowed = Q()
    for test in tests:
        if test.field.startswith("traits."):
            return Q()
        values = fetch_rows(
            people.order_by()
            .values_list(test.field, flat=True)
            .distinct()[: DISTINCT_VALUES_TESTED + 1]
        )
        if len(values) > DISTINCT_VALUES_TESTED:
            return Q()
        narrowed |= Q(**{f"{test.field}__in": [v for v, in values if test.holds(v)]})
    return narrowed


def person_check(test: AttributeTest, index: int):
    """Whether the test holds for a person's row, reading the field as the
    engine does (AttributeTest.read) from the row's column at index."""
    holds = test.holds
    if test.field.startswith("traits."):
        return lambda row: holds(lookup({"traits": row[index]}, test.field))
    return lambda row: holds(row[index])


def gather_facts(
    card: Scorecard,
    *,
    now: datetime,
    account_ids: Iterable[int] | None = None,
) -> RescoreInput:
    """Facts for some accounts (or all): three queries whatever their number."""
    if account_ids is not None:
        account_ids = list(account_ids)
    counted = start_counting(
        card.measures,
        account_ids=account_ids,
        now=now,
        many=account_ids is None or len(account_ids) > PARALLEL_COUNT_FROM,
    )
    accounts = accounts_of(card, account_ids=account_ids)
    people_by_account = people_of(card, account_ids=account_ids)
    counts = counted.result()
    attribute_names = attribute_names_of(card)
    read = RescoreInput()
    for row in accounts:
        read.add(
            row,
            attribute_names=attribute_names,
            people_by_account=people_by_account,
            counted=counts.get(row[0], NO_COUNTS),
        )
    return read


COUNTS_BATCH = 2_000
COUNTED = object()  # the stream's end


def can_stream() -> bool:
    """Streaming counts needs a second connection that sees what this one sees."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def stream_facts(card: Scorecard, *, now: datetime, chunk_size: int) -> Iterator[RescoreInput]:
    """Every account's facts, chunk by chunk in id order, as the counts arrive.

    The aggregate walks the events in account order, so its rows can be
    fetched from a server-side cursor while PostgreSQL is still counting.
    A second connection does that in a thread, and the caller evaluates and
    stores the first accounts while the database counts the next ones: the
    two cores work at once instead of in turn. Accounts without events are
    not in the aggregate; they come with empty counts.
    """
    columns, rows = count_query(card.measures, account_ids=None, now=now)
    arrivals: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    counting = threading.Thread(
        target=stream_counts, args=(rows, arrivals, stop), name="event-counts", daemon=True
    )
    if columns.measures:
        counting.start()
    else:
        arrivals.put(COUNTED)
    try:
        # Read while the first counts arrive.
        accounts = accounts_of(card, account_ids=None)
        people_by_account = people_of(card, account_ids=None)
        attribute_names = attribute_names_of(card)
        counts: CountsByAccount = {}
        read = columns.read
        position, book = 0, RescoreInput()
        while position < len(accounts):
            arrived = arrivals.get()
            if isinstance(arrived, BaseException):
                raise arrived
            if arrived is COUNTED:
                counted_up_to = None
            else:
                counted_up_to = arrived[-1][0]
                for row in arrived:
                    counts[row[0]] = read(row)
            while position < len(accounts) and (
                counted_up_to is None or accounts[position][0] <= counted_up_to
            ):
                row = accounts[position]
                position += 1
                book.add(
                    row,
                    attribute_names=attribute_names,
                    people_by_account=people_by_account,
                    counted=counts.pop(row[0], NO_COUNTS),
                )
                if len(book.facts) == chunk_size:
                    yield book
                    book = RescoreInput()
            if arrived is COUNTED:
                break
        if book.facts:
            yield book
    finally:
        stop.set()
        # Its connection is closed when it ends: wait, so none outlives the rescore.
        if counting.is_alive():
            counting.join()


def stream_counts(rows, arrivals: queue.SimpleQueue, stop: threading.Event) -> None:
    """Fetch the aggregate in batches as PostgreSQL produces them (a thread)."""
    try:
        # Without a transaction the server-side cursor would be WITH HOLD, and
        # PostgreSQL would compute every row before handing over the first.
        with transaction.atomic():
            with connection.cursor() as cursor:
                # Plan as a plain query would be: for all its rows.
                cursor.execute("SET LOCAL cursor_tuple_fraction = 1")
            sql, params = sql_of(rows)
            # Rows as the driver gives them: counts are ints already, and
            # the ORM's converters would call int() on a million of them.
            with connection.chunked_cursor() as cursor:
                cursor.execute(sql, params)
                while batch := cursor.fetchmany(COUNTS_BATCH):
                    arrivals.put(batch)
                    if stop.is_set():
                        return
        outcome = COUNTED
    except BaseException as error:
        outcome = error
    finally:
        # Closed before the end is handed over, so no caller (or test
        # database teardown) ever sees this connection still open.
        connections.close_all()
    arrivals.put(outcome)
