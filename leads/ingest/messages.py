"""Segment tracking-API payloads turned into typed messages, or into the list
of what is wrong with them (the field and the message's index). Pure: no ORM,
no HTTP, so every rule is unit-tested on plain values."""

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

# Segment's limits (KB as its libraries count them: 1,024 bytes).
MESSAGE_LIMIT = 32 * 1024
BATCH_LIMIT = 500 * 1024
BATCH_MESSAGES = 2500
MESSAGE_ID_LENGTH = 100  # ids must be shorter than this
ID_LENGTH = 255  # userId, anonymousId, groupId: the columns' size
EVENT_NAME_LENGTH = 200

CALLS = ("track", "identify", "group", "page", "screen", "alias")
EVENT_CALLS = frozenset({"track", "page", "screen"})
PLANS = frozenset({"free", "trial", "paid"})
MAX_EMPLOYEES = 2_147_483_647
# How a size problem's message starts; a payload with only those is "too_large".
OVER_LIMIT = "over the"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a payload; `index` is the message's place in the
    batch (None for the body itself or a single call)."""

    index: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = "" if self.index is None else f"batch[{self.index}]"
        if self.field:
            where = f"{where}.{self.field}" if where else self.field
        return f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {"index": self.index, "field": self.field, "message": self.message}


class InvalidPayload(ValueError):
    """The payload cannot be stored; nothing of it is."""

    def __init__(self, problems: list[Problem], *, code: str = "invalid_request"):
        super().__init__(str(problems[0]))
        self.problems = problems
        self.code = code


@dataclass(slots=True)
class Message:
    """One call, validated. `event` is the event's name (track's `event`, or
    the name derived for a page or screen); `group_id` is group's groupId, or
    an event's `context.groupId`; `columns` are the traits that have a column
    of their own (an account's industry, a person's title), already
    converted; `traits` are the others."""

    call: str
    message_id: str
    occurred_at: datetime
    user_id: str = ""
    anonymous_id: str = ""
    group_id: str = ""
    previous_id: str = ""
    event: str = ""
    properties: dict = field(default_factory=dict)
    columns: dict = field(default_factory=dict)
    traits: dict = field(default_factory=dict)


def parse_batch(payload: Any, *, received_at: datetime, body_size: int) -> list[Message]:
    """Messages of a /v1/batch body ({"batch": [...], "sentAt": ...}), in
    order, a message id sent twice in the batch counted once. Raises
    InvalidPayload listing every problem found."""
    if not isinstance(payload, dict):
        raise InvalidPayload([Problem(None, "body", "must be a JSON object")])
    batch = payload.get("batch")
    if batch is None:
        raise InvalidPayload([Problem(None, "batch", "required: a list of messages")])
    if not isinstance(batch, list):
        raise InvalidPayload([Problem(None, "batch", "must be a list of messages")])
    if len(batch) > BATCH_MESSAGES:
        raise InvalidPayload(
            [Problem(None, "batch", f"{OVER_LIMIT} limit of {BATCH_MESSAGES:,} messages ({len(batch):,})")],
            code="too_large",
        )
    problems: list[Problem] = []
    sent_at = _timestamp(payload, "sentAt", None, problems)
    # A body no larger than the message limit cannot hold a message over it.
    check_sizes = body_size > MESSAGE_LIMIT
    messages = []
    for index, raw in enumerate(batch):
        message = _message(
            raw, index=index, call=None, sent_at=sent_at, received_at=received_at,
            check_size=check_sizes, problems=problems,
        )
        if message is not None:
            messages.append(message)
    if problems:
        raise InvalidPayload(problems, code=_code(problems))
    return _first_of_each_id(messages)


def parse_call(payload: Any, *, call: str, received_at: datetime) -> Message:
    """The message of a single call (/v1/track, /v1/identify, ...): the
    endpoint gives its type."""
    if not isinstance(payload, dict):
        raise InvalidPayload([Problem(None, "body", "must be a JSON object")])
    problems: list[Problem] = []
    message = _message(
        payload, index=None, call=call, sent_at=None, received_at=received_at,
        check_size=False, problems=problems,
    )
    if problems:
        raise InvalidPayload(problems, code=_code(problems))
    assert message is not None  # no problem found: a message was made
    return message


def _code(problems: list[Problem]) -> str:
    """too_large when the only problems are sizes, else invalid_request."""
    if all(problem.message.startswith(OVER_LIMIT) for problem in problems):
        return "too_large"
    return "invalid_request"


def _first_of_each_id(messages: list[Message]) -> list[Message]:
    seen: set[str] = set()
    unique = []
    for message in messages:
        if message.message_id not in seen:
            seen.add(message.message_id)
            unique.append(message)
    return unique


def _message(
    raw: Any,
    *,
    index: int | None,
    call: str | None,
    sent_at: datetime | None,
    received_at: datetime,
    check_size: bool,
    problems: list[Problem],
) -> Message | None:
    if not isinstance(raw, dict):
        problems.append(Problem(index, "", "must be a JSON object"))
        return None
    if check_size:
        size = len(json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode())
        if size > MESSAGE_LIMIT:
            problems.append(
                Problem(index, "", f"{OVER_LIMIT} 32 KB limit per message ({size:,} bytes)")
            )
            return None
    found = len(problems)

    if call is None:
        call = raw.get("type")
        if call is None:
            problems.append(Problem(index, "type", "required"))
            return None
        if call not in CALLS:
            problems.append(Problem(index, "type", f"must be one of {', '.join(CALLS)}"))
            return None

    message_id = _id(raw, "messageId", index, problems, limit=MESSAGE_ID_LENGTH - 1)
    if not message_id and not _reported(problems, found, "messageId"):
        problems.append(Problem(index, "messageId", "required"))
    user_id = _id(raw, "userId", index, problems)
    anonymous_id = _id(raw, "anonymousId", index, problems)
    for name in ("context", "integrations"):
        _object(raw, name, index, problems)
    timestamp = _timestamp(raw, "timestamp", index, problems)
    original = _timestamp(raw, "originalTimestamp", index, problems)
    own_sent_at = _timestamp(raw, "sentAt", index, problems)
    occurred_at = timestamp or original or own_sent_at or sent_at or received_at

    message = Message(
        call=call,
        message_id=message_id,
        occurred_at=occurred_at,
        user_id=user_id,
        anonymous_id=anonymous_id,
    )
    if call == "alias":
        message.previous_id = _id(raw, "previousId", index, problems)
        if not message.previous_id and not _reported(problems, found, "previousId"):
            problems.append(Problem(index, "previousId", "required for alias"))
        if not user_id and not _reported(problems, found, "userId"):
            problems.append(Problem(index, "userId", "required for alias"))
    elif not user_id and not anonymous_id and not _reported(problems, found, "userId", "anonymousId"):
        problems.append(Problem(index, "userId", f"userId or anonymousId required for {call}"))

    if call in EVENT_CALLS:
        # B2B clients name the account an event belongs to (Segment's context.groupId).
        message.group_id = _context_id(raw, "groupId", index, problems)
    if call == "track":
        event = raw.get("event")
        if event is None or event == "":
            problems.append(Problem(index, "event", "required for track"))
        elif not isinstance(event, str):
            problems.append(Problem(index, "event", "must be a string"))
        elif len(event) > EVENT_NAME_LENGTH:
            problems.append(Problem(index, "event", f"at most {EVENT_NAME_LENGTH} characters"))
        else:
            message.event = event
        message.properties = _object(raw, "properties", index, problems)
    elif call in ("page", "screen"):
        name = _string(raw, "name", index, problems)
        category = _string(raw, "category", index, problems)
        message.event = viewed_event_name(call, name)
        message.properties = dict(_object(raw, "properties", index, problems))
        if name:
            message.properties["name"] = name
        if category:
            message.properties["category"] = category
    elif call == "identify":
        # RudderStack's library sends identify's traits in context.traits.
        traits = {**_context_traits(raw, index, problems), **_object(raw, "traits", index, problems)}
        message.columns, message.traits = person_traits(traits, index, problems)
    elif call == "group":
        message.group_id = _id(raw, "groupId", index, problems)
        if not message.group_id and not _reported(problems, found, "groupId"):
            problems.append(Problem(index, "groupId", "required for group"))
        message.columns, message.traits = account_traits(
            _object(raw, "traits", index, problems), index, problems
        )
    return message if len(problems) == found else None


def viewed_event_name(call: str, name: str) -> str:
    """page(name="Pricing") is `pricing_page_viewed`, a nameless page
    `page_viewed`; screens likewise (`settings_screen_viewed`)."""
    suffix = f"{call}_viewed"
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug:
        return suffix
    return f"{slug[: EVENT_NAME_LENGTH - len(suffix) - 1]}_{suffix}"


def person_traits(traits: dict, index: int | None, problems: list[Problem]) -> tuple[dict, dict]:
    """identify's traits split into a person's columns and the rest. A value
    of the wrong JSON type is a problem; a string too long for its column
    stays among the traits."""
    others = dict(traits)
    columns = {}
    for name, limit in (("email", 254), ("name", 200), ("title", 200)):
        value = _trait_string(traits, name, index, problems)
        if value and len(value) <= limit:
            columns[name] = value
            del others[name]
    first = _trait_string(traits, "firstName", index, problems)
    last = _trait_string(traits, "lastName", index, problems)
    if "name" not in columns and (first or last):
        full = f"{first} {last}".strip()
        if len(full) <= 200:
            columns["name"] = full
    return columns, others


def account_traits(traits: dict, index: int | None, problems: list[Problem]) -> tuple[dict, dict]:
    """group's traits split into an account's columns (name, domain,
    industry, country, employee_count, plan, signed_up_at) and the rest.
    A value of the wrong JSON type is a problem; a value of the right type
    that does not fit its column (a country that is not a two-letter code, a
    plan other than free/trial/paid) stays among the traits."""
    others = dict(traits)
    columns: dict = {}

    def take(trait: str, column: str, value) -> None:
        columns[column] = value
        others.pop(trait, None)

    name = _trait_string(traits, "name", index, problems)
    if name and len(name) <= 200:
        take("name", "name", name)
    industry = _trait_string(traits, "industry", index, problems)
    if industry and len(industry) <= 100:
        take("industry", "industry", industry)
    country = _trait_string(traits, "country", index, problems)
    if len(country) == 2 and country.isascii() and country.isalpha():
        take("country", "country", country.upper())
    plan = _trait_string(traits, "plan", index, problems).strip().lower()
    if plan in PLANS:
        take("plan", "plan", plan)
    employees = _employees(traits, index, problems)
    if employees is not None:
        take("employees", "employee_count", employees)
    domain = _trait_string(traits, "domain", index, problems)
    website = _trait_string(traits, "website", index, problems)
    if domain and len(domain) <= 253:
        take("domain", "domain", domain.lower())
    elif website:
        host = urlsplit(website if "//" in website else f"//{website}").hostname or ""
        if host and len(host) <= 253:
            columns["domain"] = host.removeprefix("www.")
    created = _trait_string(traits, "createdAt", index, problems)
    if created:
        signed_up_at = parse_timestamp(created)
        if signed_up_at is not None:
            take("createdAt", "signed_up_at", signed_up_at)
    return columns, others


def _employees(traits: dict, index, problems) -> int | None:
    value = traits.get("employees")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        problems.append(Problem(index, "traits.employees", "must be a number or a string"))
        return None
    if isinstance(value, str):
        value = value.strip().replace(",", "")
        if not value.isdigit():
            return None
        value = int(value)
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    return value if 0 <= value <= MAX_EMPLOYEES else None


def parse_timestamp(value: str) -> datetime | None:
    """ISO 8601 as Segment's libraries send it; a time without a zone is UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _timestamp(raw: dict, name: str, index, problems) -> datetime | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        parsed = parse_timestamp(value)
        if parsed is not None:
            return parsed
    problems.append(Problem(index, name, "must be an ISO 8601 date-time, e.g. 2025-01-31T12:00:00Z"))
    return None


def _reported(problems: list[Problem], since: int, *fields: str) -> bool:
    """Whether one of these fields already has a problem (so "required" is not added)."""
    return any(problem.field in fields for problem in problems[since:])


def _id(raw: dict, name: str, index, problems, *, limit: int = ID_LENGTH) -> str:
    """An id: a string, or a number as the libraries allow (stored as text).
    Absent, null and "" all mean no id."""
    value = raw.get(name)
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        problems.append(Problem(index, name, "must be a string"))
        return ""
    value = value if isinstance(value, str) else str(value)
    if len(value) > limit:
        shorter = f"under {limit + 1}" if name == "messageId" else f"at most {limit}"
        problems.append(Problem(index, name, f"must be {shorter} characters"))
        return ""
    return value


def _object(raw: dict, name: str, index, problems) -> dict:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(Problem(index, name, "must be a JSON object"))
        return {}
    return value


def _context_id(raw: dict, name: str, index, problems) -> str:
    """An id inside `context`, checked as a top-level id is."""
    context = raw.get("context")
    if not isinstance(context, dict):
        return ""
    found: list[Problem] = []
    value = _id(context, name, index, found)
    problems.extend(Problem(index, f"context.{name}", problem.message) for problem in found)
    return value


def _context_traits(raw: dict, index, problems) -> dict:
    context = raw.get("context")
    traits = context.get("traits") if isinstance(context, dict) else None
    if traits is None:
        return {}
    if not isinstance(traits, dict):
        problems.append(Problem(index, "context.traits", "must be a JSON object"))
        return {}
    return traits


def _string(raw: dict, name: str, index, problems) -> str:
    value = raw.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(Problem(index, name, "must be a string"))
        return ""
    return value


def _trait_string(traits: dict, name: str, index, problems) -> str:
    value = traits.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(Problem(index, f"traits.{name}", "must be a string"))
        return ""
    return value.strip()
