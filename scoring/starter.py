"""A starter PQL definition that uses every kind of criterion, for the demo
book and the benchmarks; managers copy it and make it theirs."""

from django.db import transaction

from .definitions import create_definition
from .models import Definition

STARTER_NAME = "Starter PQL definition"
STARTER_THRESHOLD = 60

CRITERIA: list[dict] = [
    dict(label="Clicked contact sales", role="trigger", hand_raise=True,
         event_name="contact_sales_clicked", operator="gte", value="1"),
    dict(label="Hit a usage limit", role="trigger", hand_raise=True, event_name="usage_limit_hit",
         operator="gte", value="1"),
    dict(label="Invited more than 10 teammates", role="trigger", event_name="invite_sent",
         operator="gt", value="10"),
    dict(label="Viewed pricing", points=20, event_name="pricing_page_viewed", operator="gte",
         value="1"),
    dict(label="Logged an hour in week one", points=15, event_name="hour_logged",
         operator="gte", value="1", window="after_signup", window_days=7),
    dict(label="200+ messages sent", points=25, event_name="message_sent", operator="gte",
         value="200"),
    dict(label="Uploaded a financial statement", points=10, event_name="file_uploaded",
         property_key="kind", property_value="financial_statement", operator="gte", value="1"),
    dict(label="Active on 5+ days", points=15, kind="days_active", operator="gte", value="5"),
    dict(label="Logged in 5+ times in the last 14 days", points=10, event_name="login",
         operator="gte", value="5", window="last_days", window_days=14),
    dict(label="A decision maker uses it", points=10, family="fit", kind="attribute",
         subject="any_person", field="title", operator="contains_words",
         value="founder, head, director, partner, operations, controller"),
    dict(label="Segment we do not sell to", points=-30, family="fit", kind="attribute",
         field="industry", operator="in", value="education, nonprofit"),
    dict(label="Not a paying customer yet", role="gate", family="scope", kind="attribute",
         field="plan", operator="in", value="trial, free"),
]

MILESTONES = [
    dict(label="Invited 3 teammates", event_name="invite_sent", min_count=3),
    dict(label="Created 3 channels", event_name="channel_created", min_count=3),
    dict(label="Uploaded 5 files", event_name="file_uploaded", min_count=5),
    dict(label="Sent 100 messages", event_name="message_sent", min_count=100),
]


@transaction.atomic
def ensure_starter_definition(*, activate_if_none: bool = True) -> Definition:
    """The starter definition, created (and validated) once."""
    existing = Definition.objects.filter(name=STARTER_NAME).first()
    if existing:
        return existing
    return create_definition(
        name=STARTER_NAME,
        description="Hand-raising triggers, usage points, fit adjustments and activation milestones.",
        score_threshold=STARTER_THRESHOLD,
        is_active=activate_if_none and not Definition.objects.active().exists(),
        criteria=CRITERIA,
        milestones=MILESTONES,
    )
