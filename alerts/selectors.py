"""Reads over the outbox for sales ops: each message with what became of it
on every channel (its alerts and its webhook deliveries), in one query."""

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextChoices,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat, Replace

from leads.models import DeliveryState, OutboxBatch, OutboxMessage
from leads.webhooks.models import Delivery, DeliveryStatus


class MessageState(TextChoices):
    """Where a message stands, over all its channels."""

    WAITING = "waiting", "Waiting"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


WAITING_PEOPLE = [DeliveryState.PENDING, DeliveryState.HELD]


def webhook_id_of(field):
    """The webhook-id of an outbox message (`msg_<hex>`), in SQL: how its
    webhook deliveries name it."""
    return Concat(Value("msg_"), Replace(Cast(field, CharField()), Value("-"), Value("")), output_field=CharField())


def deliveries_of_message():
    return Delivery.objects.filter(message_id=webhook_id_of(OuterRef("message_id")))


def count_of(deliveries) -> Subquery:
    return Subquery(
        deliveries.order_by().values("message_id").annotate(count=Count("*")).values("count"),
        output_field=IntegerField(),
    )


def failed_q() -> Q:
    return (
        Q(email_state=DeliveryState.FAILED)
        | Q(slack_state=DeliveryState.FAILED)
        | Q(Exists(deliveries_of_message().filter(status=DeliveryStatus.FAILED)))
    )


def waiting_q() -> Q:
    return (
        Q(email_state__in=WAITING_PEOPLE)
        | Q(slack_state__in=WAITING_PEOPLE)
        | Q(webhook_state=DeliveryState.PENDING)
        | Q(Exists(deliveries_of_message().filter(status=DeliveryStatus.PENDING)))
    )


def in_state(messages: QuerySet[OutboxMessage], state: str) -> QuerySet[OutboxMessage]:
    """Failed: some channel gave up. Waiting: none gave up and some has yet to
    deliver (or holds it for a digest). Delivered: every channel is done."""
    if state == MessageState.FAILED:
        return messages.filter(failed_q())
    if state == MessageState.WAITING:
        return messages.filter(waiting_q()).exclude(failed_q())
    if state == MessageState.DELIVERED:
        return messages.exclude(failed_q()).exclude(waiting_q())
    raise ValueError(f"state: one of {', '.join(MessageState.values)}")


def with_outcomes(messages: QuerySet[OutboxMessage]) -> QuerySet[OutboxMessage]:
    """Each message with `webhook_deliveries`, `webhook_delivered`,
    `webhook_failed` (counts of its webhook deliveries) and `state` (a
    MessageState), computed in the same query."""
    deliveries = deliveries_of_message()
    return messages.annotate(
        webhook_deliveries=count_of(deliveries),
        webhook_delivered=count_of(deliveries.filter(status=DeliveryStatus.DELIVERED)),
        webhook_failed=count_of(deliveries.filter(status=DeliveryStatus.FAILED)),
        webhook_pending=count_of(deliveries.filter(status=DeliveryStatus.PENDING)),
    ).annotate(
        state=Case(
            When(
                Q(email_state=DeliveryState.FAILED) | Q(slack_state=DeliveryState.FAILED) | Q(webhook_failed__gt=0),
                then=Value(MessageState.FAILED.value),
            ),
            When(
                Q(email_state__in=WAITING_PEOPLE)
                | Q(slack_state__in=WAITING_PEOPLE)
                | Q(webhook_state=DeliveryState.PENDING)
                | Q(webhook_pending__gt=0),
                then=Value(MessageState.WAITING.value),
            ),
            default=Value(MessageState.DELIVERED.value),
            output_field=CharField(),
        )
    )


def webhook_deliveries(message: OutboxMessage) -> QuerySet[Delivery]:
    """One message's webhook deliveries, with their endpoints."""
    return Delivery.objects.filter(message_id=message.webhook_id).select_related("endpoint").order_by("pk")


class JSONArrayLength(Func):
    """The length of a JSON list stored as text (SQLite's json_array_length
    takes the text; PostgreSQL's takes json)."""

    function = "json_array_length"
    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="%(function)s(%(expressions)s::json)", **extra)


def batches_with_sizes() -> QuerySet[OutboxBatch]:
    """The batches waiting to be unfolded, each with `messages`, counted by the
    database: the lists (thousands of messages each) stay there."""
    return OutboxBatch.objects.defer("notices").annotate(messages=JSONArrayLength("notices"))
