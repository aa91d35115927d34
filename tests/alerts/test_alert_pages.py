"""The rep's settings page (availability, alert choices) and the queue's
"new since your last visit"."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Account, LeadStatus, SalesRep
from leads.routing import assign_new_pqls, reassign_by_hand

pytestmark = pytest.mark.django_db


def signed_in(client, rep):
    client.force_login(rep.user)
    return client


def test_a_rep_sets_an_absence_and_alert_choices(client, rep):
    response = signed_in(client, rep).post(
        reverse("settings"),
        {"away_from": "2026-12-20", "back_on": "2027-01-04", "alert_timing": "digest", "alert_by_slack": "on"},
    )

    assert response.status_code == 302
    rep.refresh_from_db()
    assert timezone.localtime(rep.away_from).date() == date(2026, 12, 20)
    assert timezone.localtime(rep.away_until).date() == date(2027, 1, 4)
    assert (rep.alert_timing, rep.alert_by_email, rep.alert_by_slack) == ("digest", False, True)
    page = client.get(reverse("settings")).content.decode()
    assert 'value="2027-01-04"' in page


@pytest.mark.parametrize(
    "dates, field, error",
    [
        ({"away_from": "2027-01-04", "back_on": "2026-12-20"}, "back_on", "must come after"),
        ({"away_from": "2026-12-20"}, "back_on", "Say when you are back"),
        ({"back_on": "9999-12-31"}, "back_on", "between 2000 and 2100"),
        ({"back_on": "not a day"}, "back_on", "Enter a valid date"),
    ],
)
def test_a_wrong_absence_is_a_form_error_naming_the_field(client, rep, dates, field, error):
    response = signed_in(client, rep).post(reverse("settings"), {"alert_timing": "instant", **dates})

    assert response.status_code == 400
    assert error in str(response.context["form"].errors[field])
    rep.refresh_from_db()
    assert rep.away_until is None


def test_the_settings_page_needs_csrf(rep):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(rep.user)

    assert client.post(reverse("settings"), {"alert_timing": "instant"}).status_code == 403


def test_a_manager_sets_a_reps_absence_in_the_admin(client, superuser, rep):
    from tests.admin.test_admin import admin_form_data

    client.force_login(superuser)
    url = reverse("admin:leads_salesrep_change", args=[rep.pk])
    data = admin_form_data(client.get(url))
    data.update({"away_from_0": "2026-12-20", "away_from_1": "00:00", "away_until_0": "2026-12-10", "away_until_1": "00:00"})

    assert client.post(url, data).status_code == 200  # refused: back before away
    data.update({"away_until_0": "2027-01-04"})
    assert client.post(url, data).status_code == 302
    rep.refresh_from_db()
    assert rep.is_away(rep.away_from + timedelta(days=1))


def test_an_away_rep_gets_no_new_leads_and_a_colleague_does(make_rep, make_team):
    ava, ben = make_rep("ava"), make_rep("ben")
    make_team("Sales", ava, ben)
    SalesRep.objects.filter(pk=ava.pk).update(away_until=timezone.now() + timedelta(days=7))
    accounts = [Account.objects.create(name=f"Co {i}", status=LeadStatus.PQL) for i in range(3)]

    assign_new_pqls([a.pk for a in accounts])

    assert {a.owner_id for a in Account.objects.filter(pk__in=[a.pk for a in accounts])} == {ben.pk}


def test_when_every_rep_is_away_the_pql_stays_unassigned_with_the_reason(make_rep, make_team):
    ava = make_rep("ava", away_until=timezone.now() + timedelta(days=7))
    make_team("Sales", ava)
    account = Account.objects.create(name="Co", status=LeadStatus.PQL)

    assign_new_pqls([account.pk])

    change = account.status_changes.get()
    assert change.reason == "Every rep of team 'Sales' who covers this account is away (rule 'Sales rule')"


def test_an_absence_in_the_future_does_not_stop_routing(make_rep, make_team):
    now = timezone.now()
    ava = make_rep("ava", away_from=now + timedelta(days=1), away_until=now + timedelta(days=8))
    make_team("Sales", ava)
    account = Account.objects.create(name="Co", status=LeadStatus.PQL)

    assert assign_new_pqls([account.pk]) == [account.pk]


def test_the_queue_marks_what_is_new_since_the_last_visit_and_the_nav_counts_it(
    client, rep, manager, django_assert_max_num_queries
):
    old = Account.objects.create(name="Old Co", status=LeadStatus.PQL)
    reassign_by_hand([old.pk], rep, changed_by=manager)
    signed_in(client, rep).get(reverse("queue"))  # the first visit: everything seen
    fresh = [Account.objects.create(name=f"Fresh {i}", status=LeadStatus.PQL) for i in range(2)]
    reassign_by_hand([a.pk for a in fresh], rep, changed_by=manager)

    other_page = client.get(reverse("settings")).content.decode()
    assert 'title="New since your last visit">2<' in other_page

    with django_assert_max_num_queries(12) as few:
        response = client.get(reverse("queue"))
    rows = {row["account"].name: row["new"] for row in response.context["rows"]}
    assert rows == {"Old Co": False, "Fresh 0": True, "Fresh 1": True}
    assert "2 new since your last visit" in response.content.decode()

    # The same number of queries with many more new leads on the page.
    more = [Account.objects.create(name=f"More {i}", status=LeadStatus.PQL) for i in range(20)]
    reassign_by_hand([a.pk for a in more], rep, changed_by=manager)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("queue"))
    assert sum(row["new"] for row in response.context["rows"]) == 20

    again = client.get(reverse("queue"))
    assert not any(row["new"] for row in again.context["rows"])
    assert "New since your last visit" not in again.content.decode()


def test_a_manager_looking_at_a_reps_queue_does_not_mark_it_seen(client, rep, manager):
    account = Account.objects.create(name="Co", status=LeadStatus.PQL)
    reassign_by_hand([account.pk], rep, changed_by=manager)
    client.force_login(manager)

    client.get(reverse("queue") + f"?rep={rep.pk}")

    rep.refresh_from_db()
    assert rep.queue_seen_at is None
