"""Segment tracking-API payloads turned into typed messages, or into the list
of what is wrong with them (the field and the message's index). Pure: no ORM,
no HTTP, so every rule is unit-tested on plain values."""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from ..client_json import MAX_DEPTH, deep_path, path, too_deep
from ..timestamps import EVENT_TIMES, SIGNUP_TIMES, TimeRange, parse_iso, to_utc

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
# Objects and arrays an object that is stored (properties, traits) may nest,
# itself counted: a batch's body holds it four levels down, within the
# MAX_DEPTH the API keeps for a whole body.
STORED_DEPTH = MAX_DEPTH - 4
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


def parse_batch(
    payload: Any, *, received_at: datetime, body_size: int, correct_clocks: bool = True
) -> list[Message]:
    """Messages of a /v1/batch body ({"batch": [...], "sentAt": ...}), in
    order, a message id sent twice in the batch counted once. Raises
    InvalidPayload listing every problem found. `correct_clocks` False (a
    backfill through /v1/import) takes each timestamp as sent: its sentAt
    says when a copy was sent, perhaps long after."""
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
    sent_at = Reader(payload, None, problems, received_at=received_at).time("sentAt")
    if not correct_clocks:
        sent_at = None
    # A body no larger than the message limit cannot hold a message over it.
    check_sizes = body_size > MESSAGE_LIMIT
    messages = []
    for index, raw in enumerate(batch):
        message = _message(
            raw, index=index, call=None, sent_at=sent_at, received_at=received_at,
            check_size=check_sizes, problems=problems, correct_clocks=correct_clocks,
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
    if problems or message is None:
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


class Reader:
    """Reads the fields of one message (or of the batch), noting each
    problem with the field's name and the message's index."""

    __slots__ = ("found", "index", "problems", "raw", "received_at")

    def __init__(self, raw: dict, index: int | None, problems: list[Problem], *, received_at: datetime):
        self.raw, self.index, self.problems = raw, index, problems
        self.received_at = received_at
        self.found = len(problems)  # problems before this message's

    def problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(self.index, name, message))

    def require(self, name: str, value, message: str = "required") -> None:
        """A problem when `value` is empty, unless the field has one already."""
        if not value and not self.reported(name):
            self.problem(name, message)

    def reported(self, *fields: str) -> bool:
        """Whether one of these fields already has a problem (so "required" is not added)."""
        return any(problem.field in fields for problem in self.problems[self.found :])

    @property
    def ok(self) -> bool:
        return len(self.problems) == self.found

    def id(self, name: str, *, limit: int = ID_LENGTH) -> str:
        return _id(self.raw, name, self.index, self.problems, limit=limit)

    def object(self, name: str) -> dict:
        return _object(self.raw, name, self.index, self.problems)

    def stored_object(self, name: str) -> dict:
        """An object that is stored (properties, traits), within STORED_DEPTH."""
        return _within_depth(self.object(name), name, self)

    def string(self, name: str) -> str:
        return _string(self.raw, name, self.index, self.problems)

    def time(self, name: str) -> datetime | None:
        """An ISO 8601 time in UTC, or None when absent or a problem."""
        return _time(self.raw.get(name), name, self.index, self.problems)

    def context(self) -> dict:
        context = self.raw.get("context")
        return context if isinstance(context, dict) else {}


def _message(
    raw: Any,
    *,
    index: int | None,
    call: str | None,
    sent_at: datetime | None,
    received_at: datetime,
    check_size: bool,
    problems: list[Problem],
    correct_clocks: bool = True,
) -> Message | None:
    """One message, or None with its problems noted."""
    if not isinstance(raw, dict):
        problems.append(Problem(index, "", "must be a JSON object"))
        return None
    if check_size and _over_size(raw, index, problems):
        return None
    if (call or raw.get("type")) == "track":
        usual = _usual_track(raw, sent_at=sent_at, received_at=received_at, correct_clocks=correct_clocks)
        if usual is not None:
            return usual
    read = Reader(raw, index, problems, received_at=received_at)
    call = call or _call(read)
    if call is None:
        return None
    message = Message(
        call=call,
        message_id=read.id("messageId", limit=MESSAGE_ID_LENGTH - 1),
        occurred_at=_occurred_at(read, sent_at=sent_at, correct_clock=correct_clocks),
        user_id=read.id("userId"),
        anonymous_id=read.id("anonymousId"),
    )
    read.require("messageId", message.message_id)
    for name in ("context", "integrations"):
        read.object(name)
    CALL_FIELDS[call](message, read)
    return message if read.ok else None


def _usual_track(
    raw: dict, *, sent_at: datetime | None, received_at: datetime, correct_clocks: bool
) -> Message | None:
    """A track call whose every field has the type and size that needs no
    second look (string ids, ISO times in range, objects where objects go),
    read in one pass: nearly every call a library sends, and every row of an
    export. None for anything else, which _message then reads field by field
    and names what is wrong; this must accept only what that reading accepts,
    as the same Message (tests/ingest/test_ingest_messages.py holds both to it)."""
    message_id = raw.get("messageId")
    if type(message_id) is not str or not 0 < len(message_id) < MESSAGE_ID_LENGTH:
        return None
    user_id = raw.get("userId")
    if user_id is None:
        user_id = ""
    elif type(user_id) is not str or len(user_id) > ID_LENGTH:
        return None
    anonymous_id = raw.get("anonymousId")
    if anonymous_id is None:
        anonymous_id = ""
    elif type(anonymous_id) is not str or len(anonymous_id) > ID_LENGTH:
        return None
    if not user_id and not anonymous_id:
        return None
    event = raw.get("event")
    if type(event) is not str or not 0 < len(event) <= EVENT_NAME_LENGTH:
        return None
    context = raw.get("context")
    group_id: Any = ""
    if type(context) is dict:
        group_id = context.get("groupId")
        if group_id is None:
            group_id = ""
        elif type(group_id) is not str or len(group_id) > ID_LENGTH:
            return None
    elif context is not None:
        return None
    integrations = raw.get("integrations")
    if integrations is not None and type(integrations) is not dict:
        return None
    properties = raw.get("properties")
    if properties is None:
        properties = {}
    elif type(properties) is not dict or too_deep(properties, STORED_DEPTH):
        return None
    timestamp = _usual_time(raw.get("timestamp"))
    original = _usual_time(raw.get("originalTimestamp"))
    if timestamp is UNUSUAL or original is UNUSUAL:
        return None
    if correct_clocks:
        own_sent_at = _usual_time(raw.get("sentAt"))
        if own_sent_at is UNUSUAL:
            return None
        sent_at = own_sent_at or sent_at
    else:
        sent_at = None
    occurred_at = timestamp or original
    if occurred_at is None:
        occurred_at = received_at  # sent as it happened
    else:
        if sent_at is not None:
            try:
                occurred_at += received_at - sent_at
            except OverflowError:
                return None
        if EVENT_TIMES.problem(occurred_at, now=received_at):
            return None
    return Message(
        call="track", message_id=message_id, occurred_at=occurred_at, user_id=user_id,
        anonymous_id=anonymous_id, group_id=group_id, event=event, properties=properties,
    )


# A value _usual_time leaves to the full reading.
UNUSUAL: Any = object()


def _usual_time(value: Any) -> Any:
    """An ISO 8601 string as _time reads it (in UTC), None when absent, or
    UNUSUAL for anything _time would refuse."""
    if value is None or value == "":
        return None
    if type(value) is not str:
        return UNUSUAL
    try:
        parsed = datetime.fromisoformat(value)
        return (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return UNUSUAL


def _over_size(raw: dict, index: int | None, problems: list[Problem]) -> bool:
    try:
        size = len(orjson.dumps(raw))
    except orjson.JSONEncodeError:  # nested past orjson's 254 levels: no message is
        size = MESSAGE_LIMIT + 1
    if size <= MESSAGE_LIMIT:
        return False
    problems.append(Problem(index, "", f"{OVER_LIMIT} 32 KB limit per message ({size:,} bytes)"))
    return True


def _call(read: Reader) -> str | None:
    """The message's type in a batch."""
    call = read.raw.get("type")
    if call is None:
        read.problem("type", "required")
    elif call not in CALLS:
        read.problem("type", f"must be one of {', '.join(CALLS)}")
    else:
        return call
    return None


def _occurred_at(read: Reader, *, sent_at: datetime | None, correct_clock: bool = True) -> datetime:
    """When it happened, by the client's clock corrected as Segment does:
    timestamp + (receivedAt - sentAt), the message's own sentAt before the
    batch's. A time still outside EVENT_TIMES is a problem (the message is
    refused, not clamped: a clock that far off is a bug worth seeing)."""
    timestamp, original = read.time("timestamp"), read.time("originalTimestamp")
    name = "timestamp" if timestamp else "originalTimestamp"
    timestamp = timestamp or original
    sent_at = (read.time("sentAt") or sent_at) if correct_clock else None
    received_at = read.received_at
    if timestamp is None:
        return received_at  # sent as it happened
    corrected = ""
    if sent_at is not None:
        try:
            timestamp += received_at - sent_at
        except OverflowError:
            read.problem(name, "is out of range once corrected by sentAt")
            return received_at
        corrected = " (once corrected by sentAt)"
    problem = EVENT_TIMES.problem(timestamp, now=received_at)
    if problem:
        read.problem(name, problem + corrected)
    return timestamp


def _track(message: Message, read: Reader) -> None:
    _require_a_user(message, read)
    message.group_id = _context_id(read, "groupId")
    event = read.raw.get("event")
    if event is None or event == "":
        read.problem("event", "required for track")
    elif not isinstance(event, str):
        read.problem("event", "must be a string")
    elif len(event) > EVENT_NAME_LENGTH:
        read.problem("event", f"at most {EVENT_NAME_LENGTH} characters")
    else:
        message.event = event
    message.properties = read.stored_object("properties")


def _viewed(message: Message, read: Reader) -> None:
    """page and screen: an event named for what was viewed."""
    _require_a_user(message, read)
    message.group_id = _context_id(read, "groupId")
    name = read.string("name")
    category = read.string("category")
    message.event = viewed_event_name(message.call, name)
    message.properties = dict(read.stored_object("properties"))
    if name:
        message.properties["name"] = name
    if category:
        message.properties["category"] = category


def _identify(message: Message, read: Reader) -> None:
    _require_a_user(message, read)
    # RudderStack's library sends identify's traits in context.traits.
    traits = {**_context_traits(read), **read.stored_object("traits")}
    message.columns, message.traits = person_traits(traits, read.index, read.problems)


def _group(message: Message, read: Reader) -> None:
    _require_a_user(message, read)
    message.group_id = read.id("groupId")
    read.require("groupId", message.group_id, "required for group")
    message.columns, message.traits = account_traits(
        read.stored_object("traits"), read.index, read.problems, now=read.received_at
    )


def _alias(message: Message, read: Reader) -> None:
    message.previous_id = read.id("previousId")
    read.require("previousId", message.previous_id, "required for alias")
    read.require("userId", message.user_id, "required for alias")


def _require_a_user(message: Message, read: Reader) -> None:
    if not message.user_id and not message.anonymous_id and not read.reported("userId", "anonymousId"):
        read.problem("userId", f"userId or anonymousId required for {message.call}")


# What each call reads besides the fields all calls share.
CALL_FIELDS = {
    "track": _track,
    "page": _viewed,
    "screen": _viewed,
    "identify": _identify,
    "group": _group,
    "alias": _alias,
}


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


def account_traits(
    traits: dict, index: int | None, problems: list[Problem], *, now: datetime | None = None
) -> tuple[dict, dict]:
    """group's traits split into an account's columns (name, domain,
    industry, country, employee_count, plan, signed_up_at) and the rest.
    A value of the wrong JSON type is a problem; a value of the right type
    that does not fit its column (a country that is not a two-letter code, a
    plan other than free/trial/paid, a createdAt that is not ISO 8601)
    stays among the traits; a createdAt outside SIGNUP_TIMES is a problem."""
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
    signed_up_at = parse_iso(created) if created else None
    if signed_up_at is not None:
        found = len(problems)
        signed_up_at = _in_range(signed_up_at, "traits.createdAt", index, problems, SIGNUP_TIMES, now=now)
        if len(problems) == found:
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


def _time(value: Any, name: str, index, problems) -> datetime | None:
    """An ISO 8601 time in UTC; None when absent, or a problem."""
    if value is None or value == "":
        return None
    parsed = parse_iso(value) if isinstance(value, str) else None
    if parsed is None:
        problems.append(Problem(index, name, "must be an ISO 8601 date-time, e.g. 2025-01-31T12:00:00Z"))
        return None
    utc = to_utc(parsed)
    if utc is None:
        problems.append(Problem(index, name, "is out of range: it has no UTC equivalent"))
    return utc


def _in_range(value: datetime, name: str, index, problems, allowed: TimeRange, *, now=None) -> datetime | None:
    """`value` in UTC, or None with a problem when outside `allowed`."""
    utc = to_utc(value)
    problem = "is out of range: it has no UTC equivalent" if utc is None else allowed.problem(utc, now=now)
    if problem:
        problems.append(Problem(index, name, problem))
        return None
    return utc


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


def _context_id(read: Reader, name: str) -> str:
    """An id inside `context` (B2B clients name an event's account in
    context.groupId), checked as a top-level id is."""
    found: list[Problem] = []
    value = _id(read.context(), name, read.index, found)
    for problem in found:
        read.problem(f"context.{name}", problem.message)
    return value


def _context_traits(read: Reader) -> dict:
    traits = read.context().get("traits")
    if traits is None:
        return {}
    if not isinstance(traits, dict):
        read.problem("context.traits", "must be a JSON object")
        return {}
    return _within_depth(traits, "context.traits", read)


def _within_depth(value: dict, name: str, read: Reader) -> dict:
    """`value`, or {} with a problem naming where it nests past STORED_DEPTH."""
    if not too_deep(value, STORED_DEPTH):
        return value
    where = path([*name.split("."), *deep_path(value, STORED_DEPTH)])
    read.problem(where, f"nested deeper than {STORED_DEPTH} levels")
    return {}


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
