"""A property-based fuzz of the ingest payloads (hypothesis, derandomized so
every run sends the same inputs): deep nesting, every unicode category
(lone surrogates and NUL included), huge and negative numbers, and times
across the whole range Python parses, in every field of every call. Whatever
is sent, the answer is never a 5xx, and whatever was stored renders on the
admin's and the API's pages."""

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads.models import Account, Event, Person

pytestmark = pytest.mark.django_db

EXAMPLES = 40

# Every general category, Cs (lone surrogates) and Cc (NUL) among them.
text = st.text(st.characters(codec=None, categories=None), max_size=12) | st.sampled_from(
    ["", "\x00", "\ud800", "\udfff", "acct_fuzz", "user-fuzz", "\N{GRINNING FACE}"]
)
numbers = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([10**30, -(10**30), 2**63, -(2**63) - 1, 1e308, -1e308, 5e-324, -1, 0])
)
scalars = st.none() | st.booleans() | numbers | text
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)


@st.composite
def deeply_nested(draw):
    """A value wrapped in objects and arrays, from a few levels to past
    orjson's own limit."""
    value = draw(scalars)
    for _ in range(draw(st.sampled_from([1, 5, 28, 29, 30, 40, 200, 1100]))):
        value = {"a": value} if draw(st.booleans()) else [value]
    return value


offsets = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)),
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
)
times = (
    st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=st.none() | offsets).map(
        datetime.isoformat
    )
    | st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2026, 1, 1), timezones=offsets).map(
        datetime.isoformat
    )
    | st.sampled_from(["", "10000-01-01T00:00:00Z", "0000-01-01", "soon"])
    | numbers
)
ids = st.sampled_from(["user-fuzz", "acct_fuzz", "anon-fuzz"]) | text | numbers
free = json_values | deeply_nested()

# What a PostgreSQL row can hold: every category but lone surrogates, no NUL,
# nesting up to the limit; stored, so that the pages have it to show.
storable_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
storable_scalars = st.none() | st.booleans() | numbers | storable_text
storable = st.recursive(
    storable_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(storable_text, children, max_size=3),
    max_leaves=8,
) | st.integers(min_value=1, max_value=27).map(lambda depth: json.loads('{"a":' * depth + "1" + "}" * depth))
good_ids = st.sampled_from(["user-fuzz", "user-other", "acct_fuzz", "acct_other", "anon-fuzz"]) | storable_text.filter(
    lambda value: value.strip()
)
good_times = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2026, 1, 1), timezones=offsets).map(
    datetime.isoformat
)


def maybe(strategy):
    return st.none() | strategy


@st.composite
def message(draw, *, hostile: bool):
    """A message that is hostile throughout, or well formed around hostile
    but storable values."""
    some_id, some_time, some_text = (ids, times, text) if hostile else (good_ids, good_times, storable_text)
    some_value, some_scalar = (free, scalars) if hostile else (storable, storable_scalars)
    call = draw(st.sampled_from(["track", "identify", "group", "page", "screen", "alias"]))
    fields = {
        "type": call,
        "messageId": draw(st.uuids().map(str) | some_id),
        "userId": draw(some_id if call == "alias" or not hostile else maybe(some_id)),
        "anonymousId": draw(maybe(some_id)),
        "timestamp": draw(maybe(some_time)),
        "context": draw(maybe(st.fixed_dictionaries({}, optional={"groupId": some_id, "traits": some_value}))),
    }
    if hostile:
        fields |= {"originalTimestamp": draw(maybe(times)), "sentAt": draw(maybe(times))}
    if call == "track":
        fields |= {"event": draw(some_text.filter(bool) | some_id), "properties": draw(some_value)}
    elif call in ("page", "screen"):
        fields |= {"name": draw(maybe(some_text)), "category": draw(maybe(some_text))}
        fields["properties"] = draw(maybe(some_value))
    elif call == "identify":
        people = ["email", "name", "title", "firstName", "lastName"]
        fields["traits"] = draw(traits(people, some_scalar, some_value, some_text, some_time))
    elif call == "group":
        fields["groupId"] = draw(some_id)
        names = ["name", "industry", "country", "employees", "plan", "domain", "website", "createdAt"]
        fields["traits"] = draw(traits(names, some_scalar, some_value, some_text, some_time))
    else:
        fields["previousId"] = draw(some_id)
    return {key: value for key, value in fields.items() if value is not None}


def traits(names: list[str], scalar, value, key, time):
    known = st.fixed_dictionaries({}, optional={name: time if name == "createdAt" else scalar for name in names})
    return known.flatmap(lambda named: st.dictionaries(key, value, max_size=2).map(lambda other: {**other, **named}))


payloads = st.booleans().flatmap(
    lambda hostile: st.fixed_dictionaries(
        {"batch": st.lists(message(hostile=hostile), min_size=1, max_size=4)},
        optional={"sentAt": times} if hostile else {},
    )
)


def body(payload) -> bytes:
    # allow_nan: no finite float strategy makes one, but a client may send Infinity.
    return json.dumps(payload, allow_nan=True).encode()


@pytest.fixture
def unthrottled(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "ingest": None},
    }


def stored_pages() -> list[str]:
    """The pages of what the latest example stored, and the lists."""
    urls = ["/admin/leads/account/", "/admin/leads/event/", "/admin/leads/person/?q=fuzz", "/api/events/"]
    for account in Account.objects.order_by("-updated_at")[:2]:
        urls += [f"/accounts/{account.pk}/", f"/admin/leads/account/{account.pk}/change/"]
    for event in Event.objects.order_by("-pk")[:2]:
        urls.append(f"/admin/leads/event/{event.pk}/change/")
    for person in Person.objects.order_by("-pk")[:1]:
        urls.append(f"/admin/leads/person/{person.pk}/change/")
    return urls


def test_no_payload_is_a_5xx_and_what_is_stored_renders(client, source, superuser, inline_queues, unthrottled):
    auth = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{source.write_key}:".encode()).decode()}
    client.raise_request_exception = False
    client.force_login(superuser)
    seen = {"stored": 0, "refused": 0}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    )
    @given(payload=payloads, single=st.booleans())
    def sent(payload, single):
        if single:  # the first message alone, on its call's endpoint
            first = dict(payload["batch"][0])
            path, data = f"/v1/{first.pop('type')}", body(first)
        else:
            path, data = "/v1/batch", body(payload)
        response = client.post(path, data, content_type="application/json", **auth)
        assert response.status_code < 500, (path, data[:300])
        seen["stored" if response.status_code == 200 else "refused"] += 1
        if response.status_code == 200:
            for url in stored_pages():
                assert client.get(url).status_code == 200, (url, data[:300])

    sent()
    # The fuzz reached both sides: payloads stored (and rendered) and refused.
    assert seen["stored"] >= 5 and seen["refused"] >= 5, seen
