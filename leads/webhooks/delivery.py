"""Webhook delivery: fan messages out to the endpoints that want them, then
send each endpoint's due deliveries, at least once, with retries.

Workers share the work safely: deliveries are claimed with SELECT ... FOR
UPDATE SKIP LOCKED and a lease (a worker that dies mid-send leaves them to
be sent again, under the same webhook-id), and at most
WEBHOOKS_ENDPOINT_CONCURRENCY workers serve one endpoint at a time (a
PostgreSQL advisory lock per slot). A run is capped in time and count, and
an endpoint that times out, refuses connections or answers 429 is paused
as a whole: its backlog waits without holding workers other endpoints need.
"""

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from leads.models import MessageKind
from leads.outbox import Announcement, announce

from .models import Attempt, AttemptOutcome, Delivery, DeliveryStatus, Endpoint
from .payloads import Message, build_bodies
from .signing import signed_headers
from .targets import Target, TargetRefused, check_target, display_url
from .transport import Response, post

log = logging.getLogger(__name__)

# Advisory lock keys: this namespace in the high bits, then the endpoint and slot.
LOCK_NAMESPACE = 0x57EB << 44
MAX_SLOTS = 16
# Per claimed delivery, beyond the send's own limit: the lease must outlast the batch.
LEASE_MARGIN = timedelta(seconds=30)


# --- fan-out ----------------------------------------------------------------


def fan_out(messages: Sequence[Message]) -> dict[int, int]:
    """A delivery for every active endpoint that wants each message (and
    existed when it happened). Safe to repeat: a (message, endpoint) pair is
    stored once. Returns how many deliveries each endpoint got."""
    endpoints = list(Endpoint.objects.filter(is_active=True))
    pairs = [
        (message, endpoint)
        for message in messages
        for endpoint in endpoints
        if endpoint.wants(message.type) and message.occurred_at >= endpoint.created_at
    ]
    if not pairs:
        return {}
    bodies = build_bodies(list({message.id: message for message, _ in pairs}.values()))
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    rows = [
        (endpoint.pk, message.id, message.type, message.account_id, bodies[message.id].decode(), now, now)
        for message, endpoint in pairs
    ]
    counts: dict[int, int] = {}
    for endpoint_id in insert_new_deliveries(rows):
        counts[endpoint_id] = counts.get(endpoint_id, 0) + 1
    return counts


DELIVERY_COLUMNS = ["endpoint_id", "message_id", "event_type", "account_id", "body", "created_at", "next_attempt_at"]
FAN_OUT_BATCH = 500


def insert_new_deliveries(rows: list[tuple]) -> list[int]:
    """INSERT ... ON CONFLICT DO NOTHING, returning the endpoint of each row
    stored (bulk_create cannot say which rows a conflict skipped)."""
    quote = connection.ops.quote_name
    table = quote(Delivery._meta.db_table)
    columns = ", ".join(quote(column) for column in DELIVERY_COLUMNS)
    placeholder = "(" + ", ".join(["%s"] * len(DELIVERY_COLUMNS)) + ")"
    stored = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), FAN_OUT_BATCH):
            batch = rows[start : start + FAN_OUT_BATCH]
            cursor.execute(
                f"INSERT INTO {table} ({columns}, status, attempts, last_error) "  # noqa: S608
                f"SELECT v.*, 'pending', 0, '' FROM (VALUES {', '.join([placeholder] * len(batch))}) AS v "
                "ON CONFLICT (message_id, endpoint_id) DO NOTHING RETURNING endpoint_id",
                [value for row in batch for value in row],
            )
            stored += [row[0] for row in cursor.fetchall()]
    return stored


# --- retries ----------------------------------------------------------------


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after this many failed attempts."""
    schedule = settings.WEBHOOKS_RETRY_SCHEDULE
    return schedule[min(attempts, len(schedule)) - 1]


def out_of_retries(attempts: int) -> bool:
    return attempts > len(settings.WEBHOOKS_RETRY_SCHEDULE)


def pauses_endpoint(response: Response) -> bool:
    """The receiver is unreachable or asked us to slow down: stop sending it
    anything for a while, not just this delivery."""
    return response.status is None or response.status in (429, 503)


def retryable(response: Response) -> bool:
    return response.status is None or response.status in (408, 429) or response.status >= 500


# --- sending ----------------------------------------------------------------


@dataclass
class Run:
    """What one run for an endpoint did."""

    sent: int = 0
    delivered: int = 0
    busy: bool = False  # every slot was taken by other workers
    more_due: bool = False


def endpoint_slot_keys(endpoint_id: int) -> list[int]:
    slots = max(1, min(settings.WEBHOOKS_ENDPOINT_CONCURRENCY, MAX_SLOTS))
    return [LOCK_NAMESPACE | (endpoint_id << 4) | slot for slot in range(slots)]


@contextmanager
def endpoint_slot(endpoint_id: int) -> Iterator[bool]:
    """Hold one of the endpoint's slots for the run, or yield False when all
    are held. Session-level advisory locks end with the connection, so a
    killed worker frees its slot. Elsewhere than PostgreSQL, always granted."""
    if connection.vendor != "postgresql":
        yield True
        return
    held = None
    with connection.cursor() as cursor:
        for key in endpoint_slot_keys(endpoint_id):
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            if cursor.fetchone()[0]:
                held = key
                break
    try:
        yield held is not None
    finally:
        if held is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [held])


def due(endpoint_id: int, now: datetime):
    return Delivery.objects.filter(
        endpoint_id=endpoint_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))


def claim(endpoint_id: int, *, limit: int) -> list[Delivery]:
    """Take up to `limit` due deliveries, earliest due first, skipping rows
    another worker holds; each is leased to this worker for the batch."""
    now = timezone.now()
    lease = now + LEASE_MARGIN + timedelta(seconds=settings.WEBHOOKS_TOTAL_TIMEOUT * limit)
    with transaction.atomic():
        claimed = list(
            due(endpoint_id, now)
            .select_for_update(skip_locked=True)
            .order_by("next_attempt_at", "id")[:limit]
        )
        if claimed:
            Delivery.objects.filter(pk__in=[d.pk for d in claimed]).update(claimed_until=lease)
    return claimed


def release(deliveries: Sequence[Delivery]) -> None:
    """Hand back claimed deliveries this run did not try."""
    if deliveries:
        Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(claimed_until=None)


def signing_secrets(endpoint: Endpoint, now: datetime) -> list[str]:
    secrets = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        secrets.append(endpoint.previous_secret)
    return secrets


def send(endpoint: Endpoint, delivery: Delivery, target: Target) -> Response:
    now = timezone.now()
    headers = signed_headers(
        secrets=signing_secrets(endpoint, now), message_id=delivery.message_id, body=delivery.body, at=now
    )
    return post(
        target,
        delivery.body.encode(),
        headers,
        connect_timeout=settings.WEBHOOKS_CONNECT_TIMEOUT,
        read_timeout=settings.WEBHOOKS_READ_TIMEOUT,
        total_timeout=settings.WEBHOOKS_TOTAL_TIMEOUT,
    )


def deliver_due(endpoint_id: int) -> Run:
    """Send an endpoint's due deliveries until none is due, the endpoint
    pauses, or the run's cap (WEBHOOKS_RUN_SECONDS, WEBHOOKS_RUN_LIMIT) is
    reached; the caller enqueues another run when more is due."""
    run = Run()
    with endpoint_slot(endpoint_id) as granted:
        if not granted:
            run.busy = True
            return run
        deadline = time.monotonic() + settings.WEBHOOKS_RUN_SECONDS
        while time.monotonic() < deadline and run.sent < settings.WEBHOOKS_RUN_LIMIT:
            endpoint = Endpoint.objects.filter(pk=endpoint_id, is_active=True).first()
            if endpoint is None or (endpoint.paused_until and endpoint.paused_until > timezone.now()):
                break
            batch = claim(
                endpoint_id, limit=min(settings.WEBHOOKS_BATCH, settings.WEBHOOKS_RUN_LIMIT - run.sent)
            )
            if not batch:
                break
            results = send_batch(endpoint, batch)
            record(endpoint, results)
            release(batch[len(results) :])
            run.sent += len(results)
            run.delivered += sum(1 for _, response in results if response.status and 200 <= response.status < 300)
            if pauses_endpoint(results[-1][1]):
                break
    run.more_due = not run.busy and has_due_work(endpoint_id)
    return run


def send_batch(endpoint: Endpoint, batch: Sequence[Delivery]) -> list[tuple[Delivery, Response]]:
    """Send in order; stop at the first answer that pauses the endpoint.
    The URL is vetted (and resolved) once per batch, at send time."""
    try:
        target = check_target(endpoint.url)
    except TargetRefused as refused:
        return [(batch[0], Response(None, f"Not sent: {refused}", 0))]
    results = []
    for delivery in batch:
        response = send(endpoint, delivery, target)
        results.append((delivery, response))
        if pauses_endpoint(response):
            break
    return results


def record(endpoint: Endpoint, results: Sequence[tuple[Delivery, Response]]) -> None:
    """Log every attempt and move each delivery on; then the endpoint's
    health: a success clears its failures, a failure starts or extends them."""
    now = timezone.now()
    attempts = []
    for delivery, response in results:
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_response_code = response.status
        delivery.last_error = response.error[:500]
        delivery.claimed_until = None
        if response.status is not None and 200 <= response.status < 300:
            outcome = AttemptOutcome.DELIVERED
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, now, None
        elif retryable(response) and not out_of_retries(delivery.attempts):
            outcome = AttemptOutcome.RETRY
            delay = retry_delay(delivery.attempts)
            if response.retry_after is not None and response.status in (429, 503):
                delay = min(max(delay, response.retry_after), settings.WEBHOOKS_RETRY_SCHEDULE[-1])
            delivery.next_attempt_at = now + timedelta(seconds=delay)
        else:
            outcome = AttemptOutcome.FAILED
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        attempts.append(
            Attempt(
                delivery=delivery,
                endpoint_id=endpoint.pk,
                attempted_at=now,
                response_code=response.status,
                error=response.error[:500],
                duration_ms=response.duration_ms,
                outcome=outcome,
            )
        )
    failures_after_success = 0
    for _, response in reversed(results):
        if response.status is not None and 200 <= response.status < 300:
            break
        failures_after_success += 1
    with transaction.atomic():
        Attempt.objects.bulk_create(attempts)
        # One UPDATE per outcome shared by several deliveries (a batch of 2xx is
        # one statement): bulk_update's CASE per row and field cost more CPU
        # than the sends themselves.
        groups: dict[tuple, list[int]] = {}
        for delivery, _ in results:
            key = (
                delivery.status, delivery.delivered_at, delivery.next_attempt_at,
                delivery.last_response_code, delivery.last_error,
            )
            groups.setdefault(key, []).append(delivery.pk)
        for (status, delivered_at, next_attempt_at, code, error), ids in groups.items():
            Delivery.objects.filter(pk__in=ids).update(
                attempts=F("attempts") + 1,
                last_attempt_at=now,
                last_response_code=code,
                last_error=error,
                claimed_until=None,
                status=status,
                delivered_at=delivered_at,
                next_attempt_at=next_attempt_at,
            )
        endpoints = Endpoint.objects.filter(pk=endpoint.pk)
        if failures_after_success < len(results):
            endpoints.update(
                last_success_at=now, failing_since=None, consecutive_failures=0, paused_until=None
            )
        if failures_after_success:
            last = results[-1][1]
            paused_until = None
            if pauses_endpoint(last):
                # Failures in a row, counting those before this batch unless it had a success.
                earlier = 0 if failures_after_success < len(results) else endpoint.consecutive_failures
                pause = retry_delay(earlier + failures_after_success)
                if last.retry_after is not None:
                    pause = min(max(pause, last.retry_after), settings.WEBHOOKS_RETRY_SCHEDULE[-1])
                paused_until = now + timedelta(seconds=pause)
            endpoints.update(
                failing_since=Coalesce(F("failing_since"), now),
                consecutive_failures=F("consecutive_failures") + failures_after_success,
                paused_until=paused_until,
            )
    for delivery, response in results:
        if response.error:
            # The URL without credentials, the receiver's answer: never a header or secret.
            log.info(
                "Webhook %s to %s: %s", delivery.message_id, display_url(endpoint.url), response.error
            )


def has_due_work(endpoint_id: int) -> bool:
    now = timezone.now()
    return (
        Endpoint.objects.filter(pk=endpoint_id, is_active=True)
        .filter(Q(paused_until__isnull=True) | Q(paused_until__lte=now))
        .exists()
        and due(endpoint_id, now).exists()
    )


def endpoints_with_due_work() -> list[int]:
    """Active, unpaused endpoints with something due: what the sweep wakes."""
    now = timezone.now()
    return list(
        Endpoint.objects.filter(is_active=True)
        .filter(Q(paused_until__isnull=True) | Q(paused_until__lte=now))
        .filter(
            Q(deliveries__status=DeliveryStatus.PENDING, deliveries__next_attempt_at__lte=now)
        )
        .values_list("pk", flat=True)
        .distinct()
    )


# --- replay and disabling ----------------------------------------------------


def replay(deliveries) -> list[int]:
    """Send these deliveries again, now, with a fresh set of retries, under
    the same webhook-id. Returns the endpoints to wake."""
    now = timezone.now()
    chosen = deliveries.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    endpoint_ids = sorted(set(chosen.values_list("endpoint_id", flat=True)))
    chosen.update(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, claimed_until=None)
    return endpoint_ids


def disable_failing_endpoints() -> list[Endpoint]:
    """Turn off endpoints failing for WEBHOOKS_DISABLE_AFTER seconds, each
    once (the row lock makes a concurrent sweep skip it), and tell the
    managers: an endpoint_disabled message in the same transaction, which
    the alerts channels deliver. Returns them."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.WEBHOOKS_DISABLE_AFTER)
    with transaction.atomic():
        failing = list(
            Endpoint.objects.select_for_update(skip_locked=True).filter(
                is_active=True, failing_since__lte=cutoff
            )
        )
        for endpoint in failing:
            last = (
                Delivery.objects.filter(endpoint=endpoint, last_attempt_at__isnull=False)
                .order_by("-last_attempt_at")
                .values_list("last_error", flat=True)
                .first()
            )
            endpoint.is_active = False
            endpoint.disabled_at = now
            endpoint.disabled_reason = (
                f"Failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC"
                + (f"; last error: {last}" if last else "")
            )[:300]
            endpoint.save(update_fields=["is_active", "disabled_at", "disabled_reason"])
        announce(
            [
                Announcement(
                    kind=MessageKind.ENDPOINT_DISABLED,
                    account_id=None,
                    version=f"endpoint {endpoint.pk} at {now.isoformat()}",
                    payload={
                        "endpoint_id": endpoint.pk,
                        "url": display_url(endpoint.url),
                        "reason": endpoint.disabled_reason,
                    },
                )
                for endpoint in failing
            ],
            now=now,
        )
    return failing


def prune_old_deliveries() -> int:
    """Forget deliveries that ended (delivered or failed) and attempts older
    than WEBHOOKS_RETENTION_DAYS: the log would otherwise grow for ever.
    What is still pending is kept, however old. Returns the deliveries removed."""
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOKS_RETENTION_DAYS)
    Attempt.objects.filter(attempted_at__lt=cutoff).delete()
    removed, _ = Delivery.objects.filter(
        status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.FAILED], created_at__lt=cutoff
    ).delete()
    return removed
