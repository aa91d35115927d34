"""Which behaviours go with conversion: for every event name, whether an
account did it at least 1, 3 or 10 times in its first 14 days (and before
its outcome), against whether it converted. One aggregate query: the ORM
counts each account's events per name, the database sums them up by name."""

from datetime import timedelta

from django.db import connection
from django.db.models import Count, DateTimeField, ExpressionWrapper, F

from leads.models import Event, LeadStatus
from scoring.compiled import sql_of

from .analysis import by_lift, lift_row
from .history import outcome_events

FIRST_DAYS = 14
THRESHOLDS = (1, 3, 10)


def event_tallies(*, days: int = FIRST_DAYS, thresholds=THRESHOLDS) -> dict[str, dict[int, tuple[int, int]]]:
    """{event name: {threshold: (accounts that did it that often, of which converted)}}."""
    per_account = (
        outcome_events(Event.objects.all())
        .filter(
            occurred_at__lte=ExpressionWrapper(
                F("account__signed_up_at") + timedelta(days=days), output_field=DateTimeField()
            )
        )
        .annotate(event_name=F("name"), outcome=F("account__status"))
        .values("account_id", "event_name", "outcome")
        .annotate(times=Count("pk"))
        .order_by()
    )
    inner, params = sql_of(per_account)
    columns = ", ".join(
        f"SUM(CASE WHEN times >= {n} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN times >= {n} AND outcome = '{LeadStatus.CONVERTED}' THEN 1 ELSE 0 END)"
        for n in thresholds
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT event_name, {columns} FROM ({inner}) per_account GROUP BY event_name",  # noqa: S608
            params,
        )
        rows = cursor.fetchall()
    return {
        name: {n: (int(values[2 * i]), int(values[2 * i + 1])) for i, n in enumerate(thresholds)}
        for name, *values in rows
    }


def event_predictors(*, total: int, total_converted: int, days: int = FIRST_DAYS) -> list[dict]:
    """A lift row per event name and threshold, highest lift first."""
    rows = []
    for name, by_threshold in event_tallies(days=days).items():
        for threshold, (did, did_converted) in by_threshold.items():
            if not did:
                continue
            rows.append(
                {
                    **lift_row(
                        label=f"{name} {threshold}+ times in the first {days} days",
                        kind="event",
                        did=did,
                        did_converted=did_converted,
                        total=total,
                        total_converted=total_converted,
                    ),
                    "event_name": name,
                    "threshold": threshold,
                }
            )
    return by_lift(rows)
