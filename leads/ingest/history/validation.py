"""A historical row validated exactly as a live call is (the same JSON rules,
limits and message checks as /v1/batch), with two differences that history
needs: a row without a messageId gets a stable one derived from its content,
and the time it happened is required (a live call may leave it to the time
received; an old event cannot)."""

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from ..messages import (
    CALLS,
    MESSAGE_LIMIT,
    OVER_LIMIT,
    InvalidPayload,
    Message,
    Problem,
    parse_call,
)
from ..views import Refusal, parse_json

# Derived ids start with this, so they cannot collide with a client's UUIDs.
DERIVED_ID_PREFIX = "row-"
# Delivery times say when a copy was sent, not what happened: the same event
# exported twice with different ones is still the same event.
DELIVERY_FIELDS = ("messageId", "sentAt", "receivedAt", "writeKey")
# timestamp and originalTimestamp: absent, null or "" says nothing of when.
NO_TIME = (None, "")


def derived_message_id(raw: dict) -> str:
    """A stable id from the row's content: a hash of the row without its
    delivery fields, keys sorted, so the same row imported twice (or twice in
    one file) is stored once."""
    normalized = {key: value for key, value in raw.items() if key not in DELIVERY_FIELDS}
    text = json.dumps(normalized, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return DERIVED_ID_PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def parse_line(line: bytes) -> Any:
    """One JSON Lines row as ingest reads a body; raises InvalidPayload."""
    if len(line) > MESSAGE_LIMIT:
        size = len(line.strip())
        if size > MESSAGE_LIMIT:
            raise InvalidPayload(
                [Problem(None, "row", f"{OVER_LIMIT} 32 KB limit per message ({size:,} bytes)")],
                code="too_large",
            )
    try:
        # The live parser: orjson, with the same refusals (NUL) and the same words.
        parsed = parse_json(line)
    except Refusal as refusal:
        raise InvalidPayload([Problem(None, "row", refusal.message.removeprefix("body: "))]) from None
    except RecursionError:
        raise InvalidPayload([Problem(None, "row", "nested too deeply")]) from None
    if b"\\u" in line and SURROGATE_ESCAPE.search(line) and not encodable(parsed):
        raise InvalidPayload([Problem(None, "row", "strings must not contain lone surrogates (\\ud800-\\udfff)")])
    return parsed


# A \ud800-\udfff escape: a pair (an emoji) is fine, a lone one cannot be stored.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def encodable(value) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def historical_message(raw: Any, *, received_at: datetime) -> Message:
    """The message of one historical row; raises InvalidPayload naming every
    problem, as /v1/batch would for that message."""
    if not isinstance(raw, dict):
        raise InvalidPayload([Problem(None, "row", "must be a JSON object")])
    call = raw.get("type")
    if call is None and "event" in raw:
        call = "track"  # warehouse tables of tracks often drop the type
    if call is None:
        raise InvalidPayload([Problem(None, "type", "required")])
    if call not in CALLS:
        raise InvalidPayload([Problem(None, "type", f"must be one of {', '.join(CALLS)}")])
    problems = []
    if raw.get("timestamp") in NO_TIME and raw.get("originalTimestamp") in NO_TIME:
        problems.append(Problem(None, "timestamp", "required: the time it happened"))
    if raw.get("messageId") in (None, ""):
        raw = {**raw, "messageId": derived_message_id(raw)}
    # A row's sentAt is when a copy was sent long ago: correcting its clock by
    # it against the import's time would move the event to now.
    if "sentAt" in raw:
        raw = {name: value for name, value in raw.items() if name != "sentAt"}
    try:
        message = parse_call(raw, call=call, received_at=received_at)
    except InvalidPayload as invalid:
        problems += invalid.problems
    if problems:
        raise InvalidPayload(problems)
    return message


def historical_row(row: Any, *, received_at: datetime) -> Message:
    """A row as read from a file: a JSON Lines line (bytes) or a CSV record
    already turned into a message dict, which goes through the same JSON
    checks as a body (no NUL, no non-finite number)."""
    if isinstance(row, bytes):
        return historical_message(parse_line(row), received_at=received_at)
    text = json.dumps(row, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return historical_message(parse_line(text), received_at=received_at)
