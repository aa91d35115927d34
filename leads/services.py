"""Services that change lead data. Status changes go through change_status
only, so that every change has its history row."""

from collections.abc import Iterable, Mapping

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import Account, LeadStatus, StatusCause, StatusChange


@transaction.atomic
def change_status(
    *,
    account_id: int,
    to_status: LeadStatus | str,
    cause: StatusCause | str,
    changed_by=None,
    reason: str = "",
    details: dict | None = None,
    expected_from: LeadStatus | str | None = None,
) -> StatusChange | None:
    """Move an account to `to_status` and append the history row.

    Locks the account row, so concurrent callers see each other's change: a
    transition already made is not recorded twice. With `expected_from`, the
    change only happens from that status (a stale caller changes nothing).
    Returns the new history row, or None when nothing changed.
    """
    to_status = LeadStatus(to_status)
    account = Account.objects.select_for_update().only("id", "status").get(pk=account_id)
    from_status = account.status
    if from_status == to_status:
        return None
    if expected_from is not None and from_status != expected_from:
        return None
    now = timezone.now()
    Account.objects.filter(pk=account_id).update(status=to_status, updated_at=now)
    return StatusChange.objects.create(
        account_id=account_id,
        from_status=from_status,
        to_status=to_status,
        changed_at=now,
        cause=StatusCause(cause),
        changed_by=changed_by,
        reason=reason,
        details=details or {},
    )


@transaction.atomic
def move_accounts(
    *,
    account_ids: Iterable[int],
    from_status: LeadStatus | str,
    to_status: LeadStatus | str,
    cause: StatusCause | str,
    reasons: Mapping[int, str] | None = None,
    details: Mapping[int, dict] | None = None,
    only_if: Q | None = None,
) -> list[int]:
    """The set-based change_status: move every account still in `from_status`
    (and matching `only_if`, checked at lock time against committed data).

    The rows are locked first, so an account another worker already moved is
    skipped, never recorded twice. Returns the ids that moved.
    """
    from_status, to_status = LeadStatus(from_status), LeadStatus(to_status)
    reasons, details = reasons or {}, details or {}
    candidates = Account.objects.filter(pk__in=list(account_ids), status=from_status)
    if only_if is not None:
        candidates = candidates.filter(only_if)
    moved = list(
        candidates.select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True)
    )
    if not moved:
        return []
    now = timezone.now()
    Account.objects.filter(pk__in=moved).update(status=to_status, updated_at=now)
    StatusChange.objects.bulk_create(
        StatusChange(
            account_id=account_id,
            from_status=from_status,
            to_status=to_status,
            changed_at=now,
            cause=StatusCause(cause),
            reason=reasons.get(account_id, ""),
            details=details.get(account_id, {}),
        )
        for account_id in moved
    )
    return moved
