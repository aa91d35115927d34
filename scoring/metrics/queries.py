"""The metrics' SQL. A signup cohort is read as one row per account (its first
PQL, assignment, contact and conversion times from the status history) in a
CTE, and every figure is an aggregate over it, computed by the database.

PostgreSQL and SQLite differ in three places only: durations in seconds,
week and day truncation in the site's time zone (Django's own operations),
and the median (percentile_cont on PostgreSQL; SQLite has no percentile, so
there the durations come back in one sorted query and Python takes the median).
"""

from collections.abc import Sequence
from datetime import date, datetime
from statistics import median
from typing import cast

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from leads.models import Account, LeadStatus, StatusChange

from ..models import Definition

# Time-to-PQL distribution: bucket upper bounds in seconds (the last is open).
HOUR, DAY = 3600, 86400
DISTRIBUTION_BOUNDS = (HOUR, DAY, 3 * DAY, 7 * DAY, 14 * DAY, 30 * DAY)
# First contact: a rep may record an outcome without marking the lead contacted first.
CONTACT_STATUSES = (LeadStatus.CONTACTED, LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED)


def quote(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def seconds_between(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    # julianday is a float of days; rounding keeps whole seconds exact.
    return f"ROUND((julianday({later}) - julianday({earlier})) * 86400.0)"


def db_time(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def as_date(value) -> date:
    """A truncated week or day as the backend returns it (datetime, date or text)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def in_list(values: Sequence[str]) -> str:
    """Literal status names (our own constants, never user input)."""
    return ", ".join(f"'{value}'" for value in values)


def tier_bounds() -> tuple[int, int]:
    """The large and mid-size bounds of the active definition (the model's
    defaults without one): the tier scoring gives, from the employee count."""
    bounds = Definition.objects.active().values_list("large_tier_min_employees", "mid_tier_min_employees").first()
    if bounds is None:
        unsaved = Definition()
        return unsaved.large_tier_min_employees, unsaved.mid_tier_min_employees
    return bounds


def cohort_cte(*, start: datetime, end: datetime, now: datetime, bounds: tuple[int, int]) -> tuple[str, list]:
    """`leads`: every account that signed up in [start, end), one row each.

    Columns: week (its signup week), tier (by employee count within `bounds`,
    large then mid-size, as scoring gives it), owner_id, pql_at, to_pql (seconds
    from signup to its first PQL), bucket (to_pql's index in
    DISTRIBUTION_BOUNDS, None for no PQL), contacted and converted (0/1, PQLs only),
    sla_due (0/1: an assigned PQL whose first contact is recorded or whose
    deadline has passed) and sla_met (0/1: first contact within the SLA).
    """
    # Django returns the SQL and its parameters; django-stubs still says a string.
    week_sql, week_params = cast(tuple[str, tuple], connection.ops.datetime_trunc_sql(
        "week", "a.signed_up_at", (), timezone.get_current_timezone_name()
    ))
    bucket_cases = " ".join(
        f"WHEN to_pql < {bound} THEN {index}" for index, bound in enumerate(DISTRIBUTION_BOUNDS)
    ) + f" WHEN to_pql IS NOT NULL THEN {len(DISTRIBUTION_BOUNDS)}"
    sql = f"""
    WITH firsts AS (
        SELECT sc.account_id,
            MIN(CASE WHEN sc.to_status = '{LeadStatus.PQL}' THEN sc.changed_at END) AS pql_at,
            MIN(CASE WHEN sc.to_status = '{LeadStatus.ASSIGNED}' THEN sc.changed_at END) AS assigned_at,
            MIN(CASE WHEN sc.to_status IN ({in_list(CONTACT_STATUSES)}) THEN sc.changed_at END) AS contacted_at,
            MIN(CASE WHEN sc.to_status = '{LeadStatus.CONVERTED}' THEN sc.changed_at END) AS converted_at
        FROM {quote(StatusChange)} sc
        JOIN {quote(Account)} a ON a.id = sc.account_id
        WHERE a.signed_up_at >= %s AND a.signed_up_at < %s
        GROUP BY sc.account_id
    ),
    cohort AS (
        SELECT {week_sql} AS week,
            CASE WHEN a.employee_count >= %s THEN 'large' WHEN a.employee_count >= %s THEN 'mid'
                ELSE 'small' END AS tier,
            a.owner_id,
            f.pql_at,
            CASE WHEN f.pql_at IS NOT NULL THEN {seconds_between("f.pql_at", "a.signed_up_at")} END AS to_pql,
            CASE WHEN f.pql_at IS NOT NULL AND f.contacted_at IS NOT NULL THEN 1 ELSE 0 END AS contacted,
            CASE WHEN f.pql_at IS NOT NULL AND f.converted_at IS NOT NULL THEN 1 ELSE 0 END AS converted,
            {seconds_between("f.contacted_at", "f.assigned_at")} AS to_contact,
            {seconds_between("%s", "f.assigned_at")} AS since_assigned,
            COALESCE({seconds_between("a.sla_due_at", "a.assigned_at")}, %s) AS sla_window
        FROM {quote(Account)} a
        LEFT JOIN firsts f ON f.account_id = a.id
        WHERE a.signed_up_at >= %s AND a.signed_up_at < %s
    ),
    leads AS (
        SELECT week, tier, owner_id, pql_at, to_pql, contacted, converted,
            CASE {bucket_cases} END AS bucket,
            CASE WHEN pql_at IS NOT NULL AND since_assigned IS NOT NULL
                AND (to_contact IS NOT NULL OR since_assigned > sla_window) THEN 1 ELSE 0 END AS sla_due,
            CASE WHEN pql_at IS NOT NULL AND to_contact IS NOT NULL
                AND to_contact <= sla_window THEN 1 ELSE 0 END AS sla_met
        FROM cohort
    )
    """  # noqa: S608
    params = [
        db_time(start),
        db_time(end),
        *week_params,
        *bounds,
        db_time(now),
        settings.DEFAULT_SLA_HOURS * HOUR,
        db_time(start),
        db_time(end),
    ]
    return sql, params


def fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


COUNTS = "COUNT(*), COUNT(pql_at), SUM(contacted), SUM(converted), SUM(sla_due), SUM(sla_met)"
# After the cohort CTE. PostgreSQL: counts by (week, tier, rep, bucket) and
# medians by week, by tier and in all, in one statement.
FIGURES_BY_GROUPING_SETS = f"""
    SELECT GROUPING(week, tier, owner_id, bucket), week, tier, owner_id, bucket, {COUNTS},
        percentile_cont(0.5) WITHIN GROUP (ORDER BY to_pql)
    FROM leads
    GROUP BY GROUPING SETS ((week, tier, owner_id, bucket), (week), (tier), ())
"""  # noqa: S608
# SQLite: the counts, then every duration in order.
FIGURES = f"SELECT week, tier, owner_id, bucket, {COUNTS} FROM leads GROUP BY 1, 2, 3, 4"  # noqa: S608
DURATIONS = "SELECT week, tier, to_pql FROM leads WHERE pql_at IS NOT NULL ORDER BY to_pql"


def cohort_figures(*, start, end, now) -> tuple[list[tuple], dict]:
    """The cohort's counts and medians.

    Counts: rows of (week, tier, owner_id, bucket, signups, pqls, contacted,
    converted, sla_due, sla_met), one per group. Medians: seconds from signup
    to first PQL, keyed ("week", date), ("tier", tier) and ("all", None).

    PostgreSQL computes both in one statement (grouping sets, percentile_cont,
    the cohort read once); SQLite in two, the second fetching the sorted
    durations for Python to take the medians.
    """
    cte, params = cohort_cte(start=start, end=end, now=now, bounds=tier_bounds())
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            # Compiling the plan (JIT) would cost more than running it.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(cte + FIGURES_BY_GROUPING_SETS, params)
            rows = cursor.fetchall()
        counts, medians = [], {}
        for grouping, week, tier, owner_id, bucket, *figures, middle in rows:
            if grouping == 0:
                counts.append((as_date(week), tier, owner_id, bucket, *figures))
            elif middle is not None:  # None: a group without PQLs
                key = {7: ("week", week and as_date(week)), 11: ("tier", tier), 15: ("all", None)}[grouping]
                medians[key] = float(middle)
        return counts, medians

    rows = fetch(cte + FIGURES, params)
    counts = [(as_date(week), *rest) for week, *rest in rows]
    groups: dict = {}
    durations = fetch(cte + DURATIONS, params)
    for week, tier, seconds in durations:
        for key in (("week", as_date(week)), ("tier", tier), ("all", None)):
            groups.setdefault(key, []).append(float(seconds))
    return counts, {key: median(values) for key, values in groups.items()}


def pqls_per_day(*, start: datetime, end: datetime) -> dict[date, int]:
    """Raw PQLs by the day they first became a PQL (in the site's time zone),
    whenever they signed up."""
    day_sql, day_params = connection.ops.datetime_cast_date_sql(
        "f.pql_at", (), timezone.get_current_timezone_name()
    )
    rows = fetch(
        f"""
        SELECT {day_sql} AS day, COUNT(*) FROM (
            SELECT account_id, MIN(changed_at) AS pql_at
            FROM {quote(StatusChange)} WHERE to_status = '{LeadStatus.PQL}'
            GROUP BY account_id
        ) f
        WHERE f.pql_at >= %s AND f.pql_at < %s
        GROUP BY 1
        """,  # noqa: S608
        [*day_params, db_time(start), db_time(end)],
    )
    return {as_date(day): count for day, count in rows}
