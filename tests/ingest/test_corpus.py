"""The adversarial inputs of the hardening review as one corpus, sent to
every ingest endpoint and to /api/token/: no input is answered with a 5xx,
and after each one the admin lists (with search), the account pages and the
API's list pages still render."""

import base64
import gzip
import json
import sys
import unicodedata
from functools import cache

import pytest

from leads.models import Account, Event, Person

pytestmark = pytest.mark.django_db

AT = "2025-03-01T12:00:00Z"


@cache
def one_of_each_category() -> dict[str, str]:
    """A character of every Unicode general category (Cs: a lone surrogate)."""
    found: dict[str, str] = {}
    for code in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(code))
        if category not in found:
            found[category] = chr(code)
    return found


def every_category_but(*left_out: str) -> str:
    return "".join(char for category, char in sorted(one_of_each_category().items()) if category not in left_out)


# Each input: a name, the values (or times) it puts in every field.
VALUE_INPUTS = [
    ("lone surrogates (item 3)", ["\ud800", "\udfff\ud800"]),
    ("the NUL character", ["\x00", "a\x00b"]),
    ("every unicode category", [
        every_category_but("Cs", "Cc"), every_category_but("Cs"), "\u202e\u200b\ufeff\uffff\N{GRINNING FACE}",
    ]),
    ("huge and negative numbers", [10**30, -(2**63) - 1, -1e308, 5e-324, -1]),
    ("other JSON types and sizes", [True, [], {"nested": [[[["deep"]]]]}, "x" * 5000]),
]
TIME_INPUTS = [
    ("times with no UTC equivalent (item 1)", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+14:00"]),
    ("years 10000 and 1 BC", ["10000-01-01T00:00:00Z", "-0001-01-01T00:00:00Z", "0000-01-01T00:00:00Z"]),
    ("the edges of what Python parses", ["9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z"]),
    ("times that are not times", ["2025-02-30T00:00:00Z", "", 1e308, -1]),
    ("future times (item 8)", ["2200-01-01T00:00:00Z"]),
]


def calls(value, *, time=AT) -> list[dict]:
    """Every call type, with `value` in each field a client sends and `time`
    in each time."""
    common = {"timestamp": time, "originalTimestamp": time, "sentAt": time, "context": {"groupId": value}}
    return [
        {"type": "identify", "messageId": "i-1", "userId": value, "anonymousId": value, **common,
         "traits": {"name": value, "title": value, "email": value, "firstName": value, value_key(value): value}},
        {"type": "group", "messageId": "g-1", "userId": "corpus-user", "groupId": value, **common,
         "traits": {"name": value, "industry": value, "country": value, "employees": value, "plan": value,
                    "domain": value, "website": value, "createdAt": time, value_key(value): value}},
        {"type": "group", "messageId": "g-2", "userId": "corpus-user", "groupId": "acct_corpus", **common,
         "traits": {"name": value, "employees": value, "createdAt": time, value_key(value): value}},
        {"type": "track", "messageId": "t-1", "userId": "corpus-user", "event": value, **common,
         "properties": {"v": value, value_key(value): [value, {"v": value}]}},
        {"type": "track", "messageId": value, "userId": value, "event": "login", **common},
        {"type": "page", "messageId": "p-1", "anonymousId": value, "name": value, "category": value, **common},
        {"type": "screen", "messageId": "s-1", "userId": "corpus-user", "name": value, **common},
        {"type": "alias", "messageId": "a-1", "userId": value, "previousId": value, **common},
    ]


def value_key(value) -> str:
    return value if isinstance(value, str) else f"k{type(value).__name__}"


def encoded(payload) -> bytes:
    # ensure_ascii escapes lone surrogates and NUL as a client would send them.
    return json.dumps(payload).encode()


def bodies_for(value, *, time=AT) -> list[tuple[str, bytes]]:
    """(path, body) for one corpus value: a batch of every call, a call of
    each type on its own endpoint (so that what is valid gets stored), and a
    sign-in."""
    messages = calls(value, time=time)
    sent = [("/v1/batch", encoded({"batch": messages, "sentAt": time, "writeKey": value}))]
    singles = {message["type"]: message for message in reversed(messages)}  # the first of each type
    for call, message in singles.items():
        sent.append((f"/v1/{call}", encoded({key: item for key, item in message.items() if key != "type"})))
    sent.append(("/api/token/", encoded({"username": value, "password": value})))
    return sent


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def structural() -> list[tuple[str, bytes]]:
    """Bodies that are hostile as a whole."""
    track = {"type": "track", "messageId": "st-1", "userId": "corpus-user", "event": "login", "timestamp": AT}
    deep_properties = encoded({"batch": [{**track, "properties": {"p": 0}}]}).replace(b'{"p": 0}', nested(900))
    one = encoded({"batch": [track]})
    return [
        ("/v1/batch", nested(10_000)),
        ("/v1/batch", b"[" * 10_000 + b"]" * 10_000),
        ("/api/token/", nested(10_000)),
        ("/v1/track", nested(10_000)),
        ("/v1/batch", deep_properties),
        ("/v1/batch", b""),
        ("/v1/batch", b"   "),
        ("/v1/batch", b"null"),
        ("/v1/batch", b"[]"),
        ("/v1/batch", b'{"batch": "x"}'),
        ("/v1/batch", b'{"batch": [1, "x", null, []]}'),
        ("/v1/batch", b'{"batch": [], "sentAt": "\\ud800"}'),
        ("/v1/batch", b"\xff\xfe\x00"),
        ("/v1/batch", one.replace(b'"login"', b"NaN")),
        ("/v1/batch", one.replace(b'"login"', b"1e400")),
        ("/v1/batch", one.replace(b'"login"', b"-1e400")),
        ("/v1/batch", one.replace(b'"login"', b"1" * 5000)),
        ("/v1/batch", b'{"batch": [{"type": "track", "event": "x", "userId": "u", "messageId": "m"}], "batch": 1}'),
        ("gzip:/v1/batch", gzip.compress(one) + gzip.compress(b'{"batch": []}')),
        ("gzip:/v1/batch", gzip.compress(one) + b"junk"),
        ("gzip:/v1/batch", gzip.compress(one)[:-8]),
        ("gzip:/v1/batch", b"not gzip"),
    ]


def corpus() -> list[tuple[str, str, list[tuple[str, bytes]]]]:
    """(name, a text to search the admin for, the bodies)."""
    entries = [
        (name, str(values[0]), [body for value in values for body in bodies_for(value)])
        for name, values in VALUE_INPUTS
    ]
    entries += [
        (name, "corpus-user", [body for time in times for body in bodies_for("corpus-user", time=time)])
        for name, times in TIME_INPUTS
    ]
    # A client clock far ahead, corrected by sentAt: stored near now.
    skewed = {"batch": calls("corpus-user", time="2200-01-01T11:59:00Z"), "sentAt": "2200-01-01T12:00:00Z"}
    entries.append(("a client clock far ahead (item 8)", "corpus-user", [("/v1/batch", encoded(skewed))]))
    entries.append(("hostile bodies (items 2 and 10)", "", structural()))
    return entries


def post(client, path: str, body: bytes, *, key: str):
    headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    if path.startswith("gzip:"):
        path, headers["HTTP_CONTENT_ENCODING"] = path.removeprefix("gzip:"), "gzip"
    if path == "/api/token/":
        headers = {}
    return client.post(path, body, content_type="application/json", **headers)


def pages(search: str) -> list[str]:
    urls = [
        "/admin/leads/account/",
        "/admin/leads/event/",
        "/admin/leads/person/",
        f"/admin/leads/person/?{search_query(search)}",
        f"/admin/leads/account/?{search_query(search)}",
        "/api/accounts/",
        "/api/events/",
    ]
    for account in Account.objects.order_by("-updated_at")[:2]:
        urls += [f"/accounts/{account.pk}/", f"/admin/leads/account/{account.pk}/change/"]
    for event in Event.objects.order_by("-pk")[:1]:
        urls.append(f"/admin/leads/event/{event.pk}/change/")
    for person in Person.objects.order_by("-pk")[:1]:
        urls.append(f"/admin/leads/person/{person.pk}/change/")
    return urls


def search_query(search: str) -> str:
    from urllib.parse import urlencode

    # What a browser can send: UTF-8, so a lone surrogate goes as U+FFFD.
    return urlencode({"q": search.encode("utf-8", "replace").decode("utf-8")[:200]})


@pytest.fixture
def unthrottled(settings):
    """No throttle on ingest or on sign-ins."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "ingest": None, "anon": None,
        },
    }


def test_no_corpus_input_is_a_5xx_and_every_page_renders_after_each(
    client, source, superuser, inline_queues, unthrottled
):
    """One test, in order: stored inputs accumulate, as on a live book."""
    client.raise_request_exception = False  # a 500 is an answer to assert on
    failures = []
    for name, search, sent in corpus():
        client.logout()
        for path, body in sent:
            response = post(client, path, body, key=source.write_key)
            if response.status_code >= 500:
                failures.append((name, path, response.status_code, body[:120]))
        client.force_login(superuser)
        for url in pages(search):
            response = client.get(url)
            if response.status_code != 200:
                failures.append((name, url, response.status_code, b""))
    assert failures == []
    # The corpus stored something on each path, so the pages above had it to show.
    assert Account.objects.filter(external_id="acct_corpus").exists()
    assert Event.objects.exists() and Person.objects.exists()
