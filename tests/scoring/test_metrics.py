"""Managers see whether PQLs work: every figure of the metrics page, checked
exactly on a hand-built book whose history is known to the minute, in a fixed
number of queries, as a page, CSV files and JSON, and to managers only."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leads.models import Account, LeadStatus, StatusChange
from scoring.definitions import create_definition
from scoring.metrics import Period, build_report, summary
from scoring.metrics.charts import nice_ceiling
from scoring.metrics.report import as_data

pytestmark = pytest.mark.django_db

# Two whole weeks, Monday 2 March to Sunday 15 March 2026; "now" is the Friday after.
START, END = date(2026, 3, 2), date(2026, 3, 15)
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


def at(day, hour=0, minute=0):
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


EMPLOYEES = {"small": 10, "mid": 100, "large": 1000}


def make(name, signed_up_at, *, tier=None, owner=None, sla_hours=24, history=()):
    """An account of a tier (by its employee count) with its status history:
    (status, time) pairs in order."""
    assigned = next((when for status, when in history if status == "assigned"), None)
    account = Account.objects.create(
        name=name,
        signed_up_at=signed_up_at,
        employee_count=EMPLOYEES.get(tier),
        owner=owner,
        status=history[-1][0] if history else LeadStatus.SIGNED_UP,
        assigned_at=assigned,
        sla_due_at=assigned + timedelta(hours=sla_hours) if assigned else None,
    )
    previous = [LeadStatus.SIGNED_UP] + [status for status, _ in history]
    StatusChange.objects.bulk_create(
        StatusChange(account=account, from_status=before, to_status=status, changed_at=when, cause="user")
        for before, (status, when) in zip(previous, history, strict=False)
    )
    return account


@pytest.fixture
def period_book(rep, other_rep):
    """Eight signups in the period (A1 to A8) and three accounts around it.

    time to PQL: A5 1 h, A1 6 h, A6 24 h, A2 48 h, A4 240 h (after the period
    ends, still counted for its signup cohort).
    """
    return {
        "A1": make("A1", at(2, 10), tier="small", owner=rep, history=[
            ("pql", at(2, 16)), ("assigned", at(2, 16, 10)), ("contacted", at(3, 10)),
            ("converted", at(10)),
        ]),
        "A2": make("A2", at(3, 9), tier="mid", owner=other_rep, history=[
            ("pql", at(5, 9)), ("assigned", at(5, 9)), ("contacted", at(7, 9)),  # 48 h: SLA missed
            ("disqualified", at(9)),
        ]),
        "A3": make("A3", at(4, 12), tier="small"),
        "A4": make("A4", at(6), tier="large", owner=rep, history=[
            ("pql", at(16)), ("assigned", at(16, 0, 5)),  # never contacted; its SLA ran out
        ]),
        "A5": make("A5", at(9, 8), history=[  # no employee count: small; never assigned
            ("pql", at(9, 9)), ("signed_up", at(9, 12)), ("pql", at(10)),
        ]),
        "A6": make("A6", at(10, 8), tier="mid", owner=other_rep, sla_hours=48, history=[
            ("pql", at(11, 8)), ("assigned", at(11, 8)), ("contacted", at(12, 20)),  # 36 h of 48
            ("converted", at(14)),
        ]),
        "A7": make("A7", at(12, 10), tier="small"),
        "A8": make("A8", at(15, 23), tier="small"),
        # Around the period: a PQL in it that signed up before, a signup the
        # minute after it ends, and one the second before it starts.
        "A9": make("A9", datetime(2026, 2, 20, tzinfo=UTC), history=[("pql", at(3, 12))]),
        "A10": make("A10", at(16), history=[("pql", at(16, 1))]),
        "A11": make("A11", at(1, 23, 59) + timedelta(seconds=59)),
    }


def test_totals_count_the_periods_signups_and_what_became_of_them(period_book):
    data = summary(start=START, end=END, now=NOW)

    assert data["totals"] == {
        "signups": 8,
        "pqls": 5,
        "pql_rate": 62.5,
        "median_hours_to_pql": 24.0,
        "contacted": 3,
        "contacted_within_sla": 2,  # A1 in 18 h, A6 in 36 h of its team's 48
        "sla_due": 4,  # A1, A2, A6 contacted; A4's deadline passed; A5 never assigned
        "sla_rate": 50.0,
        "converted": 2,
        "conversion_rate": 40.0,
        "raw_pqls": 5,  # A1, A2, A5, A6 and A9 became PQLs in the period; A4 after it
    }
    assert data["period"] == {"start": "2026-03-02", "end": "2026-03-15", "time_zone": "UTC"}


def test_time_to_pql_uses_the_first_pql_and_falls_in_its_bucket(period_book):
    data = summary(start=START, end=END, now=NOW)

    assert [(row["bucket"], row["pqls"]) for row in data["time_to_pql"]] == [
        ("under 1 hour", 0),
        ("1 hour to 1 day", 2),  # A5 (its first PQL, 1 h) and A1 (6 h)
        ("1 to 3 days", 2),  # A6 at exactly 24 h, A2
        ("3 to 7 days", 0),
        ("7 to 14 days", 1),  # A4
        ("14 to 30 days", 0),
        ("30 days or more", 0),
    ]
    assert [row["share"] for row in data["time_to_pql"]][:3] == [0.0, 40.0, 40.0]


def test_figures_by_tier_by_rep_and_by_signup_week(period_book):
    data = summary(start=START, end=END, now=NOW)

    small, mid, large = data["by_tier"]
    assert (small["tier"], small["signups"], small["pqls"], small["pql_rate"]) == ("small", 5, 2, 40.0)
    assert (small["median_hours_to_pql"], small["converted"], small["conversion_rate"]) == (3.5, 1, 50.0)
    assert (mid["signups"], mid["pqls"], mid["median_hours_to_pql"], mid["conversion_rate"]) == (2, 2, 36.0, 50.0)
    assert (large["pqls"], large["median_hours_to_pql"], large["converted"], large["sla_due"]) == (1, 240.0, 0, 1)

    by_rep = {row["rep"]: row for row in data["by_rep"]}
    assert list(by_rep) == ["Ava Reyes", "Ben Ode", "Unassigned"]
    assert [
        (row["pqls"], row["contacted"], row["contacted_within_sla"], row["sla_due"], row["converted"])
        for row in by_rep.values()
    ] == [(2, 1, 1, 2, 1), (2, 2, 1, 2, 1), (1, 0, 0, 0, 0)]

    first, second = data["by_cohort_week"]
    assert (first["week"], first["signups"], first["pqls"], first["pql_rate"]) == ("2026-03-02", 4, 3, 75.0)
    assert (first["median_hours_to_pql"], first["converted"]) == (48.0, 1)
    assert (second["week"], second["signups"], second["pqls"], second["pql_rate"]) == ("2026-03-09", 4, 2, 50.0)
    assert second["median_hours_to_pql"] == 12.5  # the mean of 1 h and 24 h


def test_raw_pqls_per_week_and_month_go_by_the_day_they_became_pqls(period_book):
    data = summary(start=START, end=END, now=NOW)

    assert data["pqls_per_week"] == [{"week": "2026-03-02", "pqls": 3}, {"week": "2026-03-09", "pqls": 2}]
    assert data["pqls_per_month"] == [{"month": "2026-03", "pqls": 5}]


def test_the_funnel_goes_signup_pql_contacted_customer(period_book):
    funnel = summary(start=START, end=END, now=NOW)["funnel"]

    assert [(row["stage"], row["accounts"]) for row in funnel] == [
        ("Signed up", 8), ("Became a PQL", 5), ("Contacted", 3), ("Customer", 2),
    ]
    assert [row["share_of_signups"] for row in funnel] == [100.0, 62.5, 37.5, 25.0]
    assert [row["share_of_previous"] for row in funnel] == [None, 62.5, 60.0, 66.67]


def test_an_sla_not_yet_run_out_is_not_counted_as_missed(period_book):
    data = summary(start=START, end=END, now=at(16, 12))  # A4 assigned 12 h ago: not due yet

    assert (data["totals"]["sla_due"], data["totals"]["contacted_within_sla"]) == (3, 2)


def test_the_period_follows_the_sites_time_zone(period_book):
    with timezone.override("America/New_York"):
        data = summary(start=START, end=END, now=NOW)

    # A10 signed up at midnight UTC on the 16th: 8 pm on the 15th in New York.
    assert data["totals"]["signups"] == 9
    assert data["by_cohort_week"][1]["signups"] == 5
    assert data["period"]["time_zone"] == "America/New_York"


def test_an_empty_period_has_no_rates_rather_than_zero():
    data = summary(start=START, end=END, now=NOW)

    assert data["totals"]["signups"] == 0
    assert data["totals"]["pql_rate"] is None and data["totals"]["median_hours_to_pql"] is None
    assert [row["pqls"] for row in data["pqls_per_week"]] == [0, 0]


def test_tiers_follow_the_active_definitions_bounds(period_book):
    create_definition(name="Big only", is_active=True, mid_tier_min_employees=500, large_tier_min_employees=5000)

    small, mid, large = summary(start=START, end=END, now=NOW)["by_tier"]

    assert (small["signups"], mid["signups"], large["signups"]) == (7, 1, 0)


def test_the_report_takes_a_few_queries_whatever_the_book(period_book):
    with CaptureQueriesContext(connection) as captured:
        build_report(Period(start=START, end=END), now=NOW)

    # The tier bounds, the cohort (after a SET for it on PostgreSQL; SQLite
    # reads it twice, counts then medians), raw PQLs and the reps' names.
    statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 5


def test_the_default_period_is_the_last_twelve_weeks():
    period = Period.default(today=date(2026, 3, 19))  # a Thursday

    assert (period.start, period.end) == (date(2025, 12, 29), date(2026, 3, 19))
    assert len(period.weeks()) == 12
    with pytest.raises(ValueError, match="end on or after"):
        Period(start=END, end=START)


def test_chart_axes_end_on_round_numbers():
    assert [nice_ceiling(value) for value in (0, 0.3, 7, 31.5, 120, 450)] == [1, 0.4, 8, 40, 200, 600]


# The page, its files and who may see them.


def period_query():
    return {"start": START.isoformat(), "end": END.isoformat()}


def test_the_page_shows_the_figures_charts_and_tables(manager_client, period_book, django_assert_num_queries):
    with django_assert_num_queries(10):
        response = manager_client.get(reverse("metrics"), period_query())

    assert response.status_code == 200
    page = response.content.decode()
    assert "62.5%" in page and "40.0%" in page and "24.0 h" in page
    for title in ("Raw PQLs per week", "PQL rate by signup week", "Time to PQL", "Funnel"):
        assert f">{title}" in page
    assert page.count('role="img"') == 4
    assert page.count('<rect class="bar"') == 2 + 7  # two weeks, seven time-to-PQL buckets
    assert "Ava Reyes" in page and "Unassigned" in page
    assert f'{reverse("metrics-csv", args=["by-tier"])}?start=2026-03-02&amp;end=2026-03-15' in page


def test_a_period_that_ends_before_it_starts_is_refused_and_the_default_shown(manager_client, period_book):
    response = manager_client.get(reverse("metrics"), {"start": "2026-03-15", "end": "2026-03-02"})

    assert response.status_code == 200
    assert "The period must end on or after its start." in response.content.decode()
    assert response.context["period"] == Period.default()


def test_every_table_downloads_as_csv(manager_client, period_book):
    response = manager_client.get(reverse("metrics-csv", args=["by-tier"]), period_query())

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="pql-by-tier-2026-03-02-to-2026-03-15.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["tier"], row["signups"], row["pqls"], row["pql_rate"]) for row in rows] == [
        ("small", "5", "2", "40.0"), ("mid", "2", "2", "100.0"), ("large", "1", "1", "100.0"),
    ]
    assert rows[2]["conversion_rate"] == "0.0" and rows[0]["median_hours_to_pql"] == "3.5"

    for table in ("summary", "funnel", "by-rep", "by-cohort-week", "pqls-per-week", "pqls-per-month", "time-to-pql"):
        response = manager_client.get(reverse("metrics-csv", args=[table]), period_query())
        assert response.status_code == 200 and response.content.count(b"\n") >= 2, table
    assert manager_client.get(reverse("metrics-csv", args=["nope"])).status_code == 404


def test_the_same_figures_as_json(manager_client, period_book):
    response = manager_client.get(reverse("metrics-json"), period_query())

    expected = as_data(build_report(Period(start=START, end=END)))
    assert response.json() == expected
    assert response.json()["totals"]["pql_rate"] == 62.5


@pytest.mark.parametrize("name", ["metrics", "metrics-json"])
def test_only_managers_see_the_metrics(name, rep, django_user_model):
    url = reverse(name)
    assert Client().get(url).status_code == 302  # to sign in
    as_rep = Client()
    as_rep.force_login(rep.user)
    assert as_rep.get(url).status_code == 404
    someone = Client()
    someone.force_login(django_user_model.objects.create_user("someone", password="pw"))
    assert someone.get(url).status_code == 403
    assert as_rep.get(reverse("metrics-csv", args=["summary"])).status_code == 404


def test_managers_find_the_metrics_in_the_menu(manager_client, rep):
    assert f'href="{reverse("metrics")}"' in manager_client.get(reverse("team")).content.decode()
    as_rep = Client()
    as_rep.force_login(rep.user)
    assert f'href="{reverse("metrics")}"' not in as_rep.get(reverse("queue")).content.decode()
