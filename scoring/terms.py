"""The vocabulary of PQL definitions: roles, kinds, operators and windows.

Plain enums with no database access, shared by the models, the forms and
the pure engine.
"""

from django.db import models

from leads.models import Tier


class Role(models.TextChoices):
    GATE = "gate", "Gate: must hold to qualify at all"
    SCORING = "scoring", "Scoring: adds its points when it holds"
    TRIGGER = "trigger", "Trigger: qualifies at once on its own"


class Family(models.TextChoices):
    FIT = "fit", "Fit"
    SCOPE = "scope", "Scope"
    INTENT = "intent", "Intent"


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
    AFTER_SIGNUP = "after_signup", "within D days after signup"
    LAST_DAYS = "last_days", "in the last D days"
    TRIAL = "trial", "during the trial"


DEFAULT_ACTIVATION_THRESHOLDS = {Tier.SMALL: 75, Tier.MID: 60, Tier.LARGE: 25}
