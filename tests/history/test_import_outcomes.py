"""Outcomes from a CRM export, with their dates: recorded in the status
history with their real time and cause import, never over a later status
recorded by pqlsite, once however often imported; the metrics' PQL
conversion rate and the lab's backtest then count them exactly as worked
out by hand below."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from leads.models import Account, Event, LeadStatus, OutboxMessage, StatusCause, StatusChange
from scoring.definitions import create_definition
from scoring.lab.runs import compute
from scoring.metrics.report import Period, build_report

pytestmark = pytest.mark.django_db

S = timezone.now().replace(microsecond=0) - timedelta(days=60)  # every signup
DAY = timedelta(days=1)


def account(name, *, pql_after=None, events=(), **fields):
    """An account that signed up at S and, with `pql_after`, became a PQL
    then (recorded by scoring); events are (name, time after S)."""
    made = Account.objects.create(
        name=name, signed_up_at=S, plan="trial", trial_ends_at=S + 14 * DAY, employee_count=20,
        status=LeadStatus.PQL if pql_after is not None else LeadStatus.SIGNED_UP, **fields,
    )
    if pql_after is not None:
        StatusChange.objects.create(account=made, from_status=LeadStatus.SIGNED_UP, to_status=LeadStatus.PQL,
                                    changed_at=S + pql_after, cause=StatusCause.SCORING)
    Event.objects.bulk_create(Event(account=made, name=event, occurred_at=S + after) for event, after in events)
    return made


@pytest.fixture
def crm_book():
    """Five signups, four of them PQLs (A to D); E never was one."""
    contacted = account("D", pql_after=2 * DAY, external_id="acct_d")
    StatusChange.objects.create(account=contacted, from_status=LeadStatus.PQL, to_status=LeadStatus.CONTACTED,
                                changed_at=S + 30 * DAY, cause=StatusCause.USER)
    Account.objects.filter(pk=contacted.pk).update(status=LeadStatus.CONTACTED)
    return {
        "A": account("A", pql_after=2 * DAY, external_id="acct_a", events=[("contact_sales_clicked", 5 * DAY)]),
        "B": account("B", pql_after=2 * DAY, domain="bravo.example"),
        "C": account("C", pql_after=2 * DAY, external_id="acct_c", events=[("contact_sales_clicked", 3 * DAY)]),
        "D": contacted,
        "E": account("E", external_id="acct_e", events=[("contact_sales_clicked", 25 * DAY)]),
    }


def at(delta) -> str:
    return (S + delta).isoformat()


def crm_file(tmp_path):
    path = tmp_path / "outcomes.csv"
    path.write_text(
        "external_id,domain,outcome,date,reason\n"
        f"acct_a,,converted,{at(10 * DAY)},Annual plan\n"  # line 2
        f",bravo.example,Closed Won,{at(12 * DAY)},\n"  # line 3: by domain, a CRM's word
        f"acct_c,,disqualified,{at(8 * DAY)},Too small\n"  # line 4
        f"acct_d,,disqualified,{at(15 * DAY)},No budget\n"  # line 5: a rep contacted them later
        f"acct_e,,converted,{at(20 * DAY)},\n"  # line 6
        f"acct_zz,,converted,{at(20 * DAY)},\n"  # line 7: no such account
        f"acct_a,,converted,{(timezone.now() + DAY).isoformat()},\n"  # line 8: in the future
        f"acct_c,,maybe,{at(8 * DAY)},\n"  # line 9
    )
    return path


def run(path) -> list[str]:
    out = StringIO()
    call_command("import_outcomes", str(path), stdout=out)
    return out.getvalue().splitlines()


def test_outcomes_are_recorded_with_their_dates_and_cause_import(crm_book, tmp_path):
    out = run(crm_file(tmp_path))

    a, b, c, d, e = (Account.objects.get(pk=crm_book[name].pk) for name in "ABCDE")
    assert [x.status for x in (a, b, c, d, e)] == ["converted", "converted", "disqualified", "contacted", "converted"]
    imported = StatusChange.objects.filter(cause=StatusCause.IMPORT).order_by("account__name")
    assert [(row.account.name, row.from_status, row.to_status, row.changed_at, row.reason) for row in imported] == [
        ("A", "pql", "converted", S + 10 * DAY, "Annual plan"),
        ("B", "pql", "converted", S + 12 * DAY, ""),
        ("C", "pql", "disqualified", S + 8 * DAY, "Too small"),
        ("E", "signed_up", "converted", S + 20 * DAY, ""),
    ]
    assert out[-1] == "rows=8 recorded=4 already=0 kept_later=1 rejected=3"
    assert "  line 5: a later status stands: contacted on" in "\n".join(out)
    assert "  line 7: external_id: no account has the external id 'acct_zz'" in out
    assert "  line 8: date: is in the future" in out
    assert "  line 9: outcome: must be converted or disqualified (or won, lost)" in out


def test_the_same_file_imported_again_records_nothing_twice(crm_book, tmp_path):
    path = crm_file(tmp_path)
    run(path)
    before = StatusChange.objects.count()

    out = run(path)

    assert StatusChange.objects.count() == before
    assert out[-1] == "rows=8 recorded=0 already=4 kept_later=1 rejected=3"


def test_an_outcome_older_than_a_status_pqlsite_recorded_does_not_overwrite_it(crm_book, tmp_path):
    path = tmp_path / "late.csv"
    path.write_text(f"external_id,outcome,date\nacct_a,disqualified,{at(DAY)}\n")  # before it became a PQL

    out = run(path)

    assert Account.objects.get(pk=crm_book["A"].pk).status == LeadStatus.PQL
    assert not StatusChange.objects.filter(cause=StatusCause.IMPORT).exists()
    assert out[-1] == "rows=1 recorded=0 already=0 kept_later=1 rejected=0"


def test_the_pql_conversion_rate_counts_the_imported_conversions(crm_book, tmp_path):
    run(crm_file(tmp_path))

    totals = build_report(Period(start=(S - DAY).date(), end=timezone.localdate())).totals

    # Signups A-E; PQLs A-D; of those, A and B converted (E converted but never was a PQL).
    assert (totals.signups, totals.pqls, totals.converted) == (5, 4, 2)
    assert totals.conversion_rate == 50.0


def test_the_lab_backtests_on_the_imported_outcomes(crm_book, tmp_path):
    run(crm_file(tmp_path))
    draft = create_definition(
        name="Hand raisers", score_threshold=100,
        criteria=[dict(label="Asked for sales", role="trigger", event_name="contact_sales_clicked",
                       operator="gte", value="1")],
    )

    backtest = compute(draft)["backtest"]

    # Known outcomes: A, B, E converted; C disqualified (D is only contacted).
    # Flagged before their outcome: A (asked on day 5, first seen at the day-7
    # checkpoint, converted on day 10: 3 days of lead) and C (day 3, before its
    # day-8 outcome). E asked on day 25, after converting on day 20: not flagged.
    assert {key: backtest[key] for key in (
        "known", "converters", "flagged", "flagged_converters", "recall", "precision", "base_rate",
        "median_lead_days",
    )} == {
        "known": 4, "converters": 3, "flagged": 2, "flagged_converters": 1, "recall": 33.33,
        "precision": 50.0, "base_rate": 75.0, "median_lead_days": 3.0,
    }


def test_imported_outcomes_alert_nobody(crm_book, tmp_path):
    run(crm_file(tmp_path))

    assert StatusChange.objects.filter(cause=StatusCause.IMPORT).count() == 4
    assert not OutboxMessage.objects.exists()
