"""The writes to webhook endpoints, for the admin and anything else: the
URL is vetted on every save, and a secret leaves only as a return value,
to be shown once."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .events import EVENT_TYPE_NAMES
from .models import Endpoint, new_secret
from .targets import TargetRefused, check_target


def vetted(*, url: str, event_types: list[str]) -> None:
    """Refuse a target webhooks may not reach and unknown event types."""
    try:
        check_target(url)
    except TargetRefused as refused:
        raise ValidationError({"url": str(refused)}) from None
    if not event_types:
        raise ValidationError({"event_types": "Choose at least one event type."})
    unknown = sorted(set(event_types) - EVENT_TYPE_NAMES)
    if unknown:
        raise ValidationError({"event_types": f"Unknown event types: {', '.join(unknown)}."})


@transaction.atomic
def create_endpoint(
    *, url: str, event_types: list[str], description: str = "", is_active: bool = True, created_by=None
) -> tuple[Endpoint, str]:
    """A new endpoint and its signing secret (returned once, never shown again)."""
    vetted(url=url, event_types=event_types)
    endpoint = Endpoint.objects.create(
        url=url,
        event_types=list(event_types),
        description=description,
        is_active=is_active,
        created_by=created_by,
    )
    return endpoint, endpoint.secret


@transaction.atomic
def update_endpoint(
    endpoint: Endpoint, *, url: str, event_types: list[str], description: str, is_active: bool
) -> Endpoint:
    """Change what an endpoint gets; turning it on again clears its failures."""
    vetted(url=url, event_types=event_types)
    turned_on = is_active and not Endpoint.objects.filter(pk=endpoint.pk, is_active=True).exists()
    fields = dict(url=url, event_types=list(event_types), description=description, is_active=is_active)
    if turned_on:
        fields.update(
            disabled_at=None, disabled_reason="", failing_since=None, consecutive_failures=0, paused_until=None
        )
    Endpoint.objects.filter(pk=endpoint.pk).update(**fields)
    endpoint.refresh_from_db()
    return endpoint


def reactivate(endpoints) -> int:
    """Turn endpoints back on with a clean slate; what waited is then sent."""
    return endpoints.update(
        is_active=True,
        disabled_at=None,
        disabled_reason="",
        failing_since=None,
        consecutive_failures=0,
        paused_until=None,
    )


@transaction.atomic
def rotate_secret(endpoint: Endpoint, *, overlap: timedelta | None = None) -> str:
    """A new signing secret; the old one keeps signing alongside for
    `overlap` (WEBHOOKS_ROTATION_OVERLAP) so receivers can switch over.
    Returns the new secret, to show once."""
    current = Endpoint.objects.select_for_update().only("secret").get(pk=endpoint.pk).secret
    if overlap is None:
        overlap = timedelta(seconds=settings.WEBHOOKS_ROTATION_OVERLAP)
    secret = new_secret()
    Endpoint.objects.filter(pk=endpoint.pk).update(
        secret=secret,
        previous_secret=current if overlap else "",
        previous_secret_until=timezone.now() + overlap if overlap else None,
    )
    return secret
