"""The one rule for times a client, a manager or a script sends: how they are
parsed and which range is accepted, for ingest, the API and the admin alike.

Python parses years 1 to 9999 with any offset, PostgreSQL stores more than
that, but psycopg reads back only years 1 to 9999: a time outside a sane
range stored once breaks every page that lists it. So a stored time must lie
in its range (docs/ingest.md lists them), and a time used only to filter
must at least be representable in UTC.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.deconstruct import deconstructible


@dataclass(frozen=True)
class TimeRange:
    """From `earliest` up to `ahead` past the present (at validation time)."""

    earliest: datetime
    ahead: timedelta

    def latest(self, now: datetime | None = None) -> datetime:
        return (now or timezone.now()) + self.ahead

    def problem(self, value: datetime, *, now: datetime | None = None) -> str | None:
        """Why `value` (aware) is outside the range, or None when it is inside."""
        if value < self.earliest:
            return f"must be {self.earliest:%Y-%m-%d} or later"
        if value > self.latest(now):
            return f"must be at most {describe(self.ahead)} from now"
        return None


def describe(span: timedelta) -> str:
    days = span.days
    if days >= 365 and days % 365 == 0:
        years = days // 365
        return f"{years} year{'s' if years > 1 else ''}"
    return f"{days} day{'s' if days != 1 else ''}"


# When events happened (and people were seen): from 2000, and at most a day
# ahead, for a client's clock after skew correction.
EVENT_TIMES = TimeRange(datetime(2000, 1, 1, tzinfo=UTC), timedelta(days=1))
# When an account signed up (Segment's createdAt): from 1970, at most a day ahead.
SIGNUP_TIMES = TimeRange(datetime(1970, 1, 1, tzinfo=UTC), timedelta(days=1))
# Times planned ahead (a trial's end): from 1970, at most ten years ahead.
PLANNED_TIMES = TimeRange(datetime(1970, 1, 1, tzinfo=UTC), timedelta(days=3650))


def parse_iso(value: str) -> datetime | None:
    """ISO 8601 as Segment's libraries send it, aware (a time without an
    offset is UTC); None when it does not parse. Convert with to_utc: some
    parse but have no UTC equivalent (0001-01-01T00:00:00+14:00)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def to_utc(value: datetime) -> datetime | None:
    """`value` in UTC (naive means UTC), or None when UTC cannot hold it."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


@deconstructible
class InTimeRange:
    """Model field validator: a form error (admin) or a 400 naming the field
    (API) for a time outside the range."""

    def __init__(self, name: str):
        self.name = name  # EVENT_TIMES, SIGNUP_TIMES or PLANNED_TIMES

    @property
    def range(self) -> TimeRange:
        return RANGES[self.name]

    def __call__(self, value: datetime) -> None:
        if value is None:
            return
        utc = to_utc(value)
        problem = "has no UTC equivalent" if utc is None else self.range.problem(utc)
        if problem:
            raise ValidationError(f"The time {problem}.", code="time_out_of_range")

    def __eq__(self, other):
        return isinstance(other, InTimeRange) and other.name == self.name


RANGES = {"EVENT_TIMES": EVENT_TIMES, "SIGNUP_TIMES": SIGNUP_TIMES, "PLANNED_TIMES": PLANNED_TIMES}

event_time = InTimeRange("EVENT_TIMES")
signup_time = InTimeRange("SIGNUP_TIMES")
planned_time = InTimeRange("PLANNED_TIMES")
