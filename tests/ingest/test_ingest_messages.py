"""Segment payloads in, typed messages or named problems out: the rules of
leads.ingest.messages on plain values, no database."""

import json
from datetime import UTC, datetime
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leads.ingest import messages
from leads.ingest.messages import (
    BATCH_MESSAGES,
    MESSAGE_LIMIT,
    InvalidPayload,
    parse_batch,
    parse_call,
    viewed_event_name,
)

RECEIVED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def track(n=0, **fields):
    return {"type": "track", "messageId": f"m-{n}", "userId": "u1", "event": "login", **fields}


def parse(*messages, **payload):
    body = {"batch": list(messages), **payload}
    return parse_batch(body, received_at=RECEIVED, body_size=len(json.dumps(body)))


def problems(*messages, **payload) -> list[str]:
    with pytest.raises(InvalidPayload) as raised:
        parse(*messages, **payload)
    return [str(problem) for problem in raised.value.problems]


def test_a_track_call_becomes_an_event_message():
    [message] = parse(track(properties={"device": "web"}, timestamp="2025-02-01T10:00:00.000Z"))
    assert (message.call, message.message_id, message.user_id, message.event) == (
        "track", "m-0", "u1", "login"
    )
    assert message.properties == {"device": "web"}
    assert message.occurred_at == datetime(2025, 2, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"timestamp": "2025-02-01T10:00:00Z", "originalTimestamp": "2025-01-01T00:00:00Z"}, "2025-02-01T10:00:00"),
        ({"originalTimestamp": "2025-01-01T00:00:00+00:00"}, "2025-01-01T00:00:00"),
    ],
)
def test_the_time_is_timestamp_else_original_timestamp(fields, expected):
    [message] = parse(track(**fields))
    assert message.occurred_at == datetime.fromisoformat(expected).replace(tzinfo=UTC)


def test_a_client_clock_is_corrected_by_the_batch_sent_at():
    """Segment's rule: timestamp + (receivedAt - sentAt). This client's clock
    runs two hours behind: sent at 10:00 by its clock, received at 12:00."""
    [message] = parse(track(timestamp="2025-03-01T09:30:00Z"), sentAt="2025-03-01T10:00:00Z")
    assert message.occurred_at == datetime(2025, 3, 1, 11, 30, tzinfo=UTC)


def test_a_message_sent_at_wins_over_the_batch_sent_at():
    [message] = parse(
        track(timestamp="2025-03-01T09:30:00Z", sentAt="2025-03-01T11:00:00Z"), sentAt="2025-03-01T10:00:00Z"
    )
    assert message.occurred_at == datetime(2025, 3, 1, 10, 30, tzinfo=UTC)


def test_a_message_without_a_timestamp_happened_when_received_whatever_its_sent_at():
    [message] = parse(track(sentAt="2024-12-01T00:00:00Z"), sentAt="2024-11-01T00:00:00Z")
    assert message.occurred_at == RECEIVED


def test_a_client_clock_years_ahead_is_corrected_not_refused():
    [message] = parse(track(timestamp="2200-01-01T11:59:00Z"), sentAt="2200-01-01T12:00:00Z")
    assert message.occurred_at == datetime(2025, 3, 1, 11, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"timestamp": "2200-01-01T00:00:00Z"}, "batch[0].timestamp: must be at most 1 day from now"),
        ({"timestamp": "2025-03-02T12:00:01Z"}, "batch[0].timestamp: must be at most 1 day from now"),
        ({"timestamp": "1999-12-31T23:59:59Z"}, "batch[0].timestamp: must be 2000-01-01 or later"),
        ({"timestamp": "0001-01-01T00:00:00+14:00"}, "batch[0].timestamp: is out of range: it has no UTC equivalent"),
        ({"timestamp": "9999-12-31T23:59:59-05:00"}, "batch[0].timestamp: is out of range: it has no UTC equivalent"),
        ({"originalTimestamp": "9999-12-31T23:59:59Z"}, "batch[0].originalTimestamp: must be at most 1 day from now"),
        (
            {"timestamp": "2200-01-01T00:00:00Z", "sentAt": "2025-03-01T12:00:00Z"},
            "batch[0].timestamp: must be at most 1 day from now (once corrected by sentAt)",
        ),
        (
            {"timestamp": "9999-12-31T00:00:00Z", "sentAt": "0001-01-01T00:00:00Z"},
            "batch[0].timestamp: is out of range once corrected by sentAt",
        ),
        ({"sentAt": "0001-01-01T00:00:00+14:00"}, "batch[0].sentAt: is out of range: it has no UTC equivalent"),
    ],
)
def test_an_event_time_out_of_range_is_refused_naming_the_field(fields, expected):
    assert problems(track(**fields)) == [expected]


def test_without_any_time_an_event_happened_when_it_was_received():
    [message] = parse(track())
    assert message.occurred_at == RECEIVED


def test_a_time_without_a_zone_is_utc():
    [message] = parse(track(timestamp="2025-02-01T10:00:00"))
    assert message.occurred_at == datetime(2025, 2, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"type": "track", "messageId": "a", "userId": "u"}, "batch[0].event: required for track"),
        ({"type": "track", "messageId": "a", "event": "x"}, "batch[0].userId: userId or anonymousId required for track"),
        ({"type": "group", "messageId": "a", "userId": "u"}, "batch[0].groupId: required for group"),
        ({"type": "alias", "messageId": "a", "userId": "u"}, "batch[0].previousId: required for alias"),
        ({"type": "alias", "messageId": "a", "previousId": "p"}, "batch[0].userId: required for alias"),
        ({"type": "identify", "userId": "u"}, "batch[0].messageId: required"),
        ({"messageId": "a", "userId": "u"}, "batch[0].type: required"),
        ({"type": "purchase", "messageId": "a"}, "batch[0].type: must be one of track, identify, group, page, screen, alias"),
        ({"type": "track", "messageId": "a", "userId": "u", "event": 7}, "batch[0].event: must be a string"),
        ({"type": "track", "messageId": "a", "userId": True, "event": "x"}, "batch[0].userId: must be a string"),
        ({"type": "track", "messageId": "a", "userId": "u", "event": "x", "properties": []}, "batch[0].properties: must be a JSON object"),
        ({"type": "identify", "messageId": "a", "userId": "u", "traits": "vip"}, "batch[0].traits: must be a JSON object"),
        ({"type": "identify", "messageId": "a", "userId": "u", "traits": {"email": 5}}, "batch[0].traits.email: must be a string"),
        ({"type": "group", "messageId": "a", "userId": "u", "groupId": "g", "traits": {"employees": [5]}}, "batch[0].traits.employees: must be a number or a string"),
        ({"type": "track", "messageId": "a", "userId": "u", "event": "x", "timestamp": "yesterday"}, "batch[0].timestamp: must be an ISO 8601 date-time, e.g. 2025-01-31T12:00:00Z"),
        ({"type": "track", "messageId": "a", "userId": "u", "event": "x", "context": 1}, "batch[0].context: must be a JSON object"),
        ({"type": "page", "messageId": "a", "userId": "u", "name": 3}, "batch[0].name: must be a string"),
        ("login", "batch[0]: must be a JSON object"),
    ],
)
def test_each_problem_names_the_message_and_the_field(message, expected):
    assert problems(message) == [expected]


def test_every_problem_of_a_batch_is_listed_with_its_index():
    found = problems(track(0), track(1, event=None), track(2), track(3, userId=None))
    assert found == [
        "batch[1].event: required for track",
        "batch[3].userId: userId or anonymousId required for track",
    ]


def test_message_ids_must_be_under_100_characters():
    assert parse(track(messageId="x" * 99))[0].message_id == "x" * 99
    assert problems(track(messageId="x" * 100)) == [
        "batch[0].messageId: must be under 100 characters"
    ]


def test_ids_may_be_numbers_and_are_kept_as_text():
    [message] = parse(track(userId=42, messageId=7))
    assert (message.user_id, message.message_id) == ("42", "7")


def test_a_message_over_32_kb_is_refused_by_its_index():
    big = track(1, properties={"blob": "x" * MESSAGE_LIMIT})
    with pytest.raises(InvalidPayload) as raised:
        parse(track(0), big)
    assert raised.value.code == "too_large"
    assert str(raised.value.problems[0]).startswith("batch[1]: over the 32 KB limit per message")


def test_a_message_of_exactly_32_kb_is_accepted():
    message = track(properties={"blob": ""})
    message["properties"]["blob"] = "x" * (MESSAGE_LIMIT - len(json.dumps(message, separators=(",", ":"))))
    assert len(json.dumps(message, separators=(",", ":"))) == MESSAGE_LIMIT
    assert len(parse(message, track(1, properties={"pad": "y" * (MESSAGE_LIMIT // 2)}))) == 2


def test_more_than_2500_messages_is_refused():
    assert len(parse(*(track(n) for n in range(BATCH_MESSAGES)))) == BATCH_MESSAGES
    with pytest.raises(InvalidPayload) as raised:
        parse(*(track(n) for n in range(BATCH_MESSAGES + 1)))
    assert raised.value.code == "too_large"
    assert str(raised.value.problems[0]) == "batch: over the limit of 2,500 messages (2,501)"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({}, "batch: required: a list of messages"),
        ({"batch": {}}, "batch: must be a list of messages"),
        ([], "body: must be a JSON object"),
        ({"batch": [], "sentAt": 5}, "sentAt: must be an ISO 8601 date-time, e.g. 2025-01-31T12:00:00Z"),
    ],
)
def test_the_body_itself_must_be_a_batch(payload, expected):
    with pytest.raises(InvalidPayload) as raised:
        parse_batch(payload, received_at=RECEIVED, body_size=10)
    assert str(raised.value.problems[0]) == expected


def test_a_message_id_sent_twice_in_a_batch_counts_once():
    messages = parse(track(0), track(0, event="other"), track(1))
    assert [(m.message_id, m.event) for m in messages] == [("m-0", "login"), ("m-1", "login")]


def test_a_single_call_takes_its_type_from_the_endpoint():
    message = parse_call(
        {"messageId": "a", "userId": "u", "traits": {"title": "Associate"}},
        call="identify",
        received_at=RECEIVED,
    )
    assert (message.call, message.columns) == ("identify", {"title": "Associate"})
    with pytest.raises(InvalidPayload) as raised:
        parse_call({"messageId": "a", "userId": "u"}, call="track", received_at=RECEIVED)
    assert str(raised.value.problems[0]) == "event: required for track"


def test_identify_traits_split_into_person_columns_and_other_traits():
    [message] = parse(
        {
            "type": "identify",
            "messageId": "a",
            "userId": "u",
            "traits": {"email": "jo@harbor.com", "firstName": "Jo", "lastName": "Park", "title": "Associate", "plan_seats": 3},
        }
    )
    assert message.columns == {"email": "jo@harbor.com", "name": "Jo Park", "title": "Associate"}
    assert message.traits == {"firstName": "Jo", "lastName": "Park", "plan_seats": 3}


def test_group_traits_split_into_account_columns_and_other_traits():
    [message] = parse(
        {
            "type": "group",
            "messageId": "a",
            "userId": "u",
            "groupId": "acct_1",
            "traits": {
                "name": "Harbor Legal",
                "industry": "legal",
                "employees": "45",
                "country": "us",
                "plan": "Trial",
                "website": "https://www.harborlegal.com/about",
                "createdAt": "2025-01-05T09:00:00Z",
                "seats": 4,
            },
        }
    )
    assert message.group_id == "acct_1"
    assert message.columns == {
        "name": "Harbor Legal",
        "industry": "legal",
        "employee_count": 45,
        "country": "US",
        "plan": "trial",
        "domain": "harborlegal.com",
        "signed_up_at": datetime(2025, 1, 5, 9, 0, tzinfo=UTC),
    }
    assert message.traits == {"website": "https://www.harborlegal.com/about", "seats": 4}


def test_group_traits_that_do_not_fit_a_column_stay_traits():
    [message] = parse(
        {
            "type": "group",
            "messageId": "a",
            "groupId": "g",
            "anonymousId": "anon",
            "traits": {"country": "Canada", "plan": "enterprise", "employees": "about 50"},
        }
    )
    assert message.columns == {}
    assert message.traits == {"country": "Canada", "plan": "enterprise", "employees": "about 50"}


@pytest.mark.parametrize(
    ("call", "name", "expected"),
    [
        ("page", "Pricing", "pricing_page_viewed"),
        ("page", "", "page_viewed"),
        ("page", "Docs / Getting started!", "docs_getting_started_page_viewed"),
        ("screen", "Settings", "settings_screen_viewed"),
    ],
)
def test_pages_and_screens_are_named_events(call, name, expected):
    assert viewed_event_name(call, name) == expected


def test_a_page_keeps_its_name_and_category_among_the_properties():
    [message] = parse(
        {"type": "page", "messageId": "a", "userId": "u", "name": "Pricing", "category": "Plans",
         "properties": {"path": "/pricing"}}
    )
    assert message.event == "pricing_page_viewed"
    assert message.properties == {"path": "/pricing", "name": "Pricing", "category": "Plans"}


def test_a_very_long_page_name_still_fits_the_event_name():
    assert len(viewed_event_name("page", "x" * 500)) == 200


def test_identify_traits_may_come_in_the_context_as_rudderstack_sends_them():
    [message] = parse(
        {"type": "identify", "messageId": "a", "userId": "u",
         "context": {"traits": {"title": "CFO", "email": "a@b.co"}}, "traits": {"title": "CEO"}}
    )
    assert message.columns == {"email": "a@b.co", "title": "CEO"}
    assert problems({"type": "identify", "messageId": "a", "userId": "u", "context": {"traits": 1}}) == [
        "batch[0].context.traits: must be a JSON object"
    ]


def test_an_event_names_its_account_in_context_group_id():
    page = {"type": "page", "messageId": "p", "anonymousId": "anon", "context": {"groupId": 42}}
    grouped, plain, named = parse(track(1, context={"groupId": "acct_1"}), track(2), page)
    assert (grouped.group_id, plain.group_id, named.group_id) == ("acct_1", "", "42")


def test_a_context_group_id_is_checked_as_an_id():
    assert problems(track(context={"groupId": ["acct_1"]})) == [
        "batch[0].context.groupId: must be a string"
    ]
    assert problems(track(context={"groupId": "g" * 256})) == [
        "batch[0].context.groupId: must be at most 255 characters"
    ]


def test_identify_does_not_read_context_group_id():
    [message] = parse(
        {"type": "identify", "messageId": "a", "userId": "u", "context": {"groupId": ["ignored"]}}
    )
    assert message.group_id == ""


# --- the quick reading of a usual track call agrees with the full one ---------------

def nested(depth: int) -> dict:
    value: dict = {"a": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


ODD_VALUES = [None, True, False, 0, -1, 2**70, 1.5, "", " ", [], ["x"], {}, {"a": [1]}]
SOME_IDS = ["u1", "acct_1", "x" * 99, "x" * 100, "x" * 200, "x" * 201, "x" * 255, "x" * 256, "\N{GRINNING FACE}",
            *ODD_VALUES]
SOME_TIMES = [
    "2025-02-01T10:00:00Z", "2025-02-01T10:00:00", "2025-02-01T10:00:00.123+05:30", "2025-03-02T11:59:00Z",
    "2025-03-02T12:00:01Z", "2000-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00",
    "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00Z", "2025-02-30T00:00:00Z", "soon",
    *ODD_VALUES,
]
SOME_OBJECTS = [{"plan": "trial", "n": 1}, {"a": [[1]]}, nested(28), nested(29), *ODD_VALUES]
# Each field of a track call, and values on either side of its rules.
FIELDS = {
    "messageId": SOME_IDS, "userId": SOME_IDS, "anonymousId": SOME_IDS, "event": SOME_IDS,
    "timestamp": SOME_TIMES, "originalTimestamp": SOME_TIMES, "sentAt": SOME_TIMES,
    "context": [*({"groupId": value} for value in SOME_IDS), *({"library": value} for value in SOME_OBJECTS),
                *ODD_VALUES],
    "integrations": SOME_OBJECTS, "properties": SOME_OBJECTS,
}
BATCH_SENT_AT = [None, "2025-03-01T10:00:00Z", "1999-01-01T00:00:00Z", 5]
DROPPED = object()


def usual_track(**changes) -> dict:
    call = {"type": "track", **track(), "timestamp": "2025-02-01T10:00:00Z", "properties": {"plan": "trial"}}
    for name, value in changes.items():
        if value is DROPPED:
            call.pop(name, None)
        else:
            call[name] = value
    return call


@st.composite
def track_calls(draw) -> dict:
    """A usual track call with some of its fields replaced or dropped."""
    changes = {}
    for name, values in FIELDS.items():
        change = draw(st.sampled_from(["keep"] * 4 + ["drop", "replace"]))
        if change != "keep":
            changes[name] = DROPPED if change == "drop" else draw(st.sampled_from(values))
    return usual_track(**changes)


def read_both_ways(read) -> tuple:
    """What `read` gives (messages, or the problems' words) with the quick
    reading, and with every call read field by field."""
    def outcome():
        try:
            return read()
        except InvalidPayload as invalid:
            return [str(problem) for problem in invalid.problems]

    quick = outcome()
    with patch.object(messages, "_usual_track", lambda *args, **kwargs: None):
        return quick, outcome()


def assert_read_alike(call: dict, *, sent_at, correct_clocks: bool) -> None:
    body = {"batch": [call]} if sent_at is None else {"batch": [call], "sentAt": sent_at}
    quick, full = read_both_ways(
        lambda: parse_batch(body, received_at=RECEIVED, body_size=100, correct_clocks=correct_clocks)
    )
    assert quick == full, call
    quick, full = read_both_ways(lambda: parse_call(call, call="track", received_at=RECEIVED))
    assert quick == full, call


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_a_track_call_read_quickly_is_read_as_field_by_field(name):
    """One field changed at a time, with every batch sentAt and clock rule."""
    for value in [*FIELDS[name], DROPPED]:
        for sent_at in BATCH_SENT_AT:
            for correct_clocks in (True, False):
                assert_read_alike(usual_track(**{name: value}), sent_at=sent_at, correct_clocks=correct_clocks)


@settings(max_examples=500, derandomize=True, deadline=None)
@given(call=track_calls(), sent_at=st.sampled_from(BATCH_SENT_AT), correct_clocks=st.booleans())
def test_a_track_call_read_quickly_is_read_as_field_by_field_whatever_fields_change(call, sent_at, correct_clocks):
    assert_read_alike(call, sent_at=sent_at, correct_clocks=correct_clocks)


def test_the_quick_reading_takes_a_usual_track_call():
    call = track(timestamp="2025-02-01T10:00:00Z", context={"groupId": "acct_1"}, properties={"plan": "trial"})
    quick = messages._usual_track(call, sent_at=None, received_at=RECEIVED, correct_clocks=True)
    assert quick is not None
    assert quick == parse_call(call, call="track", received_at=RECEIVED)
