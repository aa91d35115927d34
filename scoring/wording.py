"""Plain words for what the engine observed, so a rep reads a reason in
five seconds: "Viewed pricing 3 times", "45 employees, not more than 50".

Pure functions over plain values, shared by the explanations, the
definition's sentence and the builder's warnings.
"""

from .terms import Operator, Window, WindowUnit

# How the domain's events read, with {n} the count and {s} a plural s;
# {times} is "once", "twice" or "N times".
EVENT_WORDS = {
    "hour_logged": "Logged {n} hour{s}",
    "invite_sent": "Sent {n} invite{s}",
    "message_sent": "Sent {n} message{s}",
    "channel_created": "Created {n} channel{s}",
    "pricing_page_viewed": "Viewed pricing {times}",
    "usage_limit_hit": "Hit a usage limit {times}",
    "contact_sales_clicked": "Clicked contact sales {times}",
    "file_uploaded": "Uploaded {n} file{s}",
    "login": "Logged in {times}",
    "template_created": "Created {n} template{s}",
    "friend_added": "Added {n} friend{s}",
}

COUNT_WORDS: dict[str, str] = {
    Operator.EQ: "exactly",
    Operator.GT: "more than",
    Operator.GTE: "at least",
    Operator.LT: "fewer than",
    Operator.LTE: "at most",
}

VALUE_WORDS: dict[str, str] = {
    Operator.EQ: "",
    Operator.GT: "more than ",
    Operator.GTE: "at least ",
    Operator.LT: "less than ",
    Operator.LTE: "at most ",
}

FIELD_WORDS = {
    "employee_count": "employees",
    "external_id": "id",
}


def times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n:,} times")


def humanized(name: str) -> str:
    return name.replace("_", " ").replace(".", " ").strip()


def sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def lower_first(text: str) -> str:
    """'Logged an hour' -> 'logged an hour', leaving 'CEO' and 'US' alone."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def window_words(window: str, length: int | None, unit: str = WindowUnit.DAYS) -> str:
    """' in the first 7 days', ' in the last 48 hours', ' during the trial', or ''."""
    if window == Window.AFTER_SIGNUP:
        return f" in the first {span_words(length, unit)}"
    if window == Window.LAST_DAYS:
        return f" in the last {span_words(length, unit)}"
    if window == Window.TRIAL:
        return " during the trial"
    return ""


def span_words(length: int | None, unit: str) -> str:
    length = length or 0
    singular = "hour" if unit == WindowUnit.HOURS else "day"
    return f"{singular}" if length == 1 else f"{length:,} {singular}s"


def event_count_words(
    *,
    event_name: str,
    count: int,
    distinct_days: bool = False,
    property_key: str = "",
    property_value: str = "",
) -> str:
    """What an account did, e.g. 'Viewed pricing 3 times', 'Active on 5 days'."""
    plural = "" if count == 1 else "s"
    if distinct_days:
        days = f"{count:,} day{plural}"
        text = f"Active on {days}" if not event_name else f"{sentence_case(humanized(event_name))} on {days}"
    elif event_name in EVENT_WORDS:
        text = EVENT_WORDS[event_name].format(n=f"{count:,}", s=plural, times=times(count))
    elif event_name:
        text = f"{sentence_case(humanized(event_name))} {times(count)}"
    else:
        text = f"{count:,} event{plural}"
    if property_key:
        text += f" with {humanized(property_key)} {property_value}"
    return text


def requirement_words(operator: str, count: int) -> str:
    return f"{COUNT_WORDS[operator]} {count:,}"


def field_words(field: str) -> str:
    if field.startswith("traits."):
        return humanized(field.removeprefix("traits."))
    return FIELD_WORDS.get(field, humanized(field))


def expectation_words(operator: str, value) -> str:
    """What an attribute test asks for: 'one of US, CA', 'at least 50'."""
    if operator == Operator.IS_SET:
        return "set"
    if operator == Operator.IN:
        return "one of " + ", ".join(value)
    if operator == Operator.CONTAINS_WORDS:
        return "containing " + or_list(value)
    return VALUE_WORDS[operator] + value_words(value)


def value_words(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    if value is None or value == "":
        return "not set"
    if isinstance(value, list | tuple):
        return ", ".join(value_words(item) for item in value)
    return str(value)


def or_list(words) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def attribute_words(*, field: str, operator: str, expected, observed, held: bool) -> str:
    """An account attribute as read: '45 employees, more than 20' when it
    holds; '49 employees, not at least 50' or 'Country is DE, not one of
    US, CA' when it fails."""
    name = field_words(field)
    if observed is None or observed == "":
        seen = f"{sentence_case(name)} is not set"
    elif field == "employee_count":
        seen = f"{value_words(observed)} employees"
    else:
        seen = f"{sentence_case(name)} is {value_words(observed)}"
    expectation = expectation_words(operator, expected)
    if operator == Operator.IS_SET:
        return seen
    if held:
        return seen if operator in (Operator.EQ, Operator.IN, Operator.CONTAINS_WORDS) else f"{seen}, {expectation}"
    return f"{seen}, not {expectation}"


def person_words(*, field: str, operator: str, expected, who: str | None, observed, held: bool) -> str:
    """A person test: 'jo@firm.com has title Senior Associate', or
    'Nobody has a title containing associate or operations'."""
    name = field_words(field)
    if held:
        return f"{who} has {name} {value_words(observed)}" if observed not in (None, "") else f"{who} has a {name}"
    if operator == Operator.IS_SET:
        return f"Nobody has a {name} set"
    if operator in (Operator.EQ, Operator.IN):
        return f"Nobody's {name} is {expectation_words(operator, expected)}"
    return f"Nobody has a {name} {expectation_words(operator, expected)}"
