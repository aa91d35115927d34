"""The attributes a criterion can test, and whether an operator and value fit them.

Shared by the admin (form errors), the API (400s) and the scorecards (parsing).
"""

from .terms import Operator, Subject

TEXT, NUMBER, ANY = "text", "number", "any"

ACCOUNT_ATTRIBUTES = {
    "name": TEXT,
    "domain": TEXT,
    "industry": TEXT,
    "country": TEXT,
    "plan": TEXT,
    "external_id": TEXT,
    "employee_count": NUMBER,
}
PERSON_ATTRIBUTES = {"email": TEXT, "name": TEXT, "title": TEXT, "external_id": TEXT}
TRAIT_PREFIX = "traits."

OPERATORS_FOR = {
    TEXT: {Operator.EQ, Operator.IN, Operator.CONTAINS_WORDS, Operator.IS_SET},
    NUMBER: {Operator.EQ, Operator.IN, Operator.GT, Operator.GTE, Operator.LT, Operator.LTE, Operator.IS_SET},
    ANY: set(Operator),
}


def attribute_type(subject: str, field: str) -> str | None:
    """TEXT, NUMBER or ANY (a trait); None for an unknown field."""
    if field.startswith(TRAIT_PREFIX) and len(field) > len(TRAIT_PREFIX):
        return ANY
    catalogue = ACCOUNT_ATTRIBUTES if subject == Subject.ACCOUNT else PERSON_ATTRIBUTES
    return catalogue.get(field)


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def attribute_errors(*, subject: str, field: str, operator: str, value: str) -> dict[str, str]:
    """Form errors keyed by field name; empty when the test makes sense."""
    kind = attribute_type(subject, field)
    if kind is None:
        known = ACCOUNT_ATTRIBUTES if subject == Subject.ACCOUNT else PERSON_ATTRIBUTES
        return {
            "field": f"Unknown field '{field}'. Use one of {', '.join(sorted(known))} "
            f"or a trait as traits.KEY."
        }
    if operator not in OPERATORS_FOR[kind]:
        return {"operator": f"'{Operator(operator).label}' does not apply to {kind} field '{field}'."}
    value = value.strip()
    if operator == Operator.IS_SET:
        return {"value": "'is set' takes no value; leave it blank."} if value else {}
    if not value:
        return {"value": "Give the value to compare with."}
    items = split_list(value) if operator in (Operator.IN, Operator.CONTAINS_WORDS) else [value]
    if not items:
        return {"value": "Give at least one value, comma-separated."}
    numeric = operator in (Operator.GT, Operator.GTE, Operator.LT, Operator.LTE) or kind == NUMBER
    if numeric and not all(is_number(item) for item in items):
        return {"value": f"'{value}' is not a number; {field} is compared as a number."}
    return {}
