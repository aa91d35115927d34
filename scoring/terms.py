"""The vocabulary of PQL definitions: roles, kinds, operators and windows.

Plain enums with no database access, shared by the models, the forms and
the pure engine.
"""

from datetime import timedelta

from django.db import models

from leads.models import Tier


class Role(models.TextChoices):
    GATE = "gate", "Gate: must hold to qualify at all"
    SCORING = "scoring", "Scoring: adds its points when it holds"
    TRIGGER = "trigger", "Trigger: qualifies at once on its own"


ROLE_HELP = {
    Role.GATE: "must hold before anything else counts",
    Role.SCORING: "adds its points to the score when it holds",
    Role.TRIGGER: "qualifies the account at once when it holds",
}


class Family(models.TextChoices):
    """What a criterion is evidence of. It changes no result: the lab groups
    criteria by it, and it tells a rep what kind of reason they read."""

    FIT = "fit", "Fit: the kind of customer we serve"
    SCOPE = "scope", "Scope: can they afford us"
    INTENT = "intent", "Intent: usage that shows buying intent"


class Kind(models.TextChoices):
    ATTRIBUTE = "attribute", "Attribute of the account or its people"
    EVENT_COUNT = "event_count", "Count of events"
    DAYS_ACTIVE = "days_active", "Distinct days active"


class Subject(models.TextChoices):
    ACCOUNT = "account", "The account"
    ANY_PERSON = "any_person", "Any person in the account"


class Operator(models.TextChoices):
    EQ = "eq", "equals"
    IN = "in", "is one of"
    CONTAINS_WORDS = "contains_words", "contains any of these words"
    GT = "gt", "greater than"
    GTE = "gte", "at least"
    LT = "lt", "less than"
    LTE = "lte", "at most"
    IS_SET = "is_set", "is set"


NUMERIC_OPERATORS = frozenset({Operator.GT, Operator.GTE, Operator.LT, Operator.LTE})
COUNT_OPERATORS = NUMERIC_OPERATORS | {Operator.EQ}


class Window(models.TextChoices):
    EVER = "ever", "ever"
    AFTER_SIGNUP = "after_signup", "within N days or hours after signup"
    LAST_DAYS = "last_days", "in the last N days or hours"
    TRIAL = "trial", "during the trial"


SIZED_WINDOWS = frozenset({Window.AFTER_SIGNUP, Window.LAST_DAYS})


class WindowUnit(models.TextChoices):
    DAYS = "days", "days"
    HOURS = "hours", "hours"


def window_span(length: int, unit: str) -> timedelta:
    """How long a window of `length` days or hours lasts."""
    return timedelta(hours=length) if unit == WindowUnit.HOURS else timedelta(days=length)


DEFAULT_ACTIVATION_THRESHOLDS = {Tier.SMALL: 75, Tier.MID: 60, Tier.LARGE: 25}
