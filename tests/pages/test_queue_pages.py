"""Reps work their queue and accounts in server-rendered pages; managers see
the team. Each page shows what its users need, in a fixed number of queries,
and only to those allowed to see it."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leads.models import Account, Event, LeadStatus, Note, Plan, StatusChange
from leads.services import Assignment, assign_accounts
from scoring.rescoring import rescore_all

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def lead(name, *, rep=None, events=("login",), employees=10, waiting_hours=1, **fields):
    """An account that qualified (with these events) and went to `rep`."""
    account = Account.objects.create(
        name=name, employee_count=employees, industry="legal", country="US", **fields
    )
    Event.objects.bulk_create(
        Event(account=account, name=event, occurred_at=NOW - timedelta(days=1), properties={"via": "web"})
        for event in events
    )
    return account, rep, waiting_hours


def qualify_and_assign(*leads):
    rescore_all()
    for account, rep, waiting_hours in leads:
        if rep is not None:
            assign_accounts(
                assignments={account.pk: Assignment(rep.pk, "test", NOW + timedelta(hours=24))},
                cause="routing",
            )
            assigned_at = NOW - timedelta(hours=waiting_hours)
            Account.objects.filter(pk=account.pk).update(
                assigned_at=assigned_at, sla_due_at=assigned_at + timedelta(hours=24)
            )
    return [account for account, _, _ in leads]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def names_in_order(response):
    return [row["account"].name for row in response.context["rows"]]


def test_the_queue_puts_hand_raisers_first_then_size_then_score_then_waiting_time(rep, definition):
    qualify_and_assign(
        lead("Small low", rep=rep, events=("login",), waiting_hours=1),
        lead("Small high", rep=rep, events=("login", "message_sent")),
        lead("Large", rep=rep, employees=900),
        lead("Hand raiser", rep=rep, events=("contact_sales_clicked",)),
        lead("Small low, waiting longer", rep=rep, events=("login",), waiting_hours=30),
    )

    response = signed_in(rep.user).get(reverse("queue"))

    assert response.status_code == 200
    assert names_in_order(response) == [
        "Hand raiser",
        "Large",
        "Small high",
        "Small low, waiting longer",
        "Small low",
    ]


def test_queue_rows_say_why_and_flag_overdue_leads(rep, definition):
    qualify_and_assign(
        lead("Fresh", rep=rep, events=("login", "message_sent"), waiting_hours=2),
        lead("Forgotten", rep=rep, waiting_hours=30),
    )

    html = signed_in(rep.user).get(reverse("queue")).content.decode()

    assert "<li>Logged in</li>" in html and "<li>Sent messages</li>" in html
    assert html.count('class="overdue"') == 1
    assert '<div class="sla late">Overdue since' in html
    assert '<div class="sla">Due 21\xa0hours from now' in html


def test_the_queue_filters_by_status_and_tier(rep, definition):
    contacted, _, _ = qualify_and_assign(
        lead("Called", rep=rep), lead("Big", rep=rep, employees=900), lead("Plain", rep=rep)
    )
    Account.objects.filter(pk=contacted.pk).update(status=LeadStatus.CONTACTED)
    client = signed_in(rep.user)

    assert names_in_order(client.get(reverse("queue"), {"status": "contacted"})) == ["Called"]
    assert names_in_order(client.get(reverse("queue"), {"tier": "large"})) == ["Big"]


def test_the_queue_only_holds_the_reps_open_leads(rep, other_rep, definition):
    _, _, closed = qualify_and_assign(
        lead("Mine", rep=rep), lead("Theirs", rep=other_rep), lead("Won", rep=rep)
    )
    Account.objects.filter(pk=closed.pk).update(status=LeadStatus.CONVERTED)

    assert names_in_order(signed_in(rep.user).get(reverse("queue"))) == ["Mine"]


def test_a_long_queue_is_paginated(rep, definition):
    qualify_and_assign(*(lead(f"Co {i:02}", rep=rep) for i in range(30)))
    client = signed_in(rep.user)

    first, second = client.get(reverse("queue")), client.get(reverse("queue"), {"page": 2})

    assert len(first.context["rows"]) == 25 and len(second.context["rows"]) == 5
    assert "Page 1 of 2" in first.content.decode()


def test_an_empty_queue_says_so(rep):
    html = signed_in(rep.user).get(reverse("queue")).content.decode()
    assert "Nothing waiting" in html


@pytest.mark.parametrize("size", [3, 40])
def test_queue_page_queries_do_not_grow_with_the_queue(rep, definition, size, django_assert_num_queries):
    qualify_and_assign(*(lead(f"Co {i}", rep=rep) for i in range(size)))
    client = signed_in(rep.user)
    # One of them finds the person to contact on every row at once.
    with django_assert_num_queries(12):
        assert client.get(reverse("queue")).status_code == 200


def test_the_account_page_shows_facts_people_why_timeline_and_history(rep, definition):
    (account,) = qualify_and_assign(lead("Harbor Legal", rep=rep, events=("login", "message_sent")))
    account.people.create(name="Jo Park", email="jo@harbor.com", title="Senior Associate")

    response = signed_in(rep.user).get(reverse("account", args=[account.pk]))
    html = response.content.decode()

    assert response.status_code == 200
    for text in [
        "Harbor Legal", "legal", "Jo Park", "Senior Associate", "Logged in",
        "Logged in once", "message_sent", "<dt>via</dt><dd>web</dd>", "<strong>Qualified:</strong>",
    ]:
        assert text in html, text
    assert [c.to_status for c in response.context["history"]] == ["assigned", "pql"]


def test_the_timeline_is_newest_first_and_paginated(rep, definition):
    (account,) = qualify_and_assign(lead("Busy", rep=rep))
    Event.objects.bulk_create(
        Event(account=account, name=f"step_{i:03}", occurred_at=NOW - timedelta(minutes=i)) for i in range(120)
    )
    client = signed_in(rep.user)

    first = client.get(reverse("account", args=[account.pk]))
    third = client.get(reverse("account", args=[account.pk]), {"events": 3})

    assert [e.name for e in first.context["events"]][:2] == ["step_000", "step_001"]
    assert len(first.context["events"]) == 50 and len(third.context["events"]) == 21


def test_account_page_queries_do_not_grow_with_the_timeline(rep, definition, django_assert_num_queries):
    (account,) = qualify_and_assign(lead("Busy", rep=rep))
    Event.objects.bulk_create(
        Event(account=account, name="login", occurred_at=NOW - timedelta(minutes=i)) for i in range(300)
    )
    for i in range(10):
        account.people.create(name=f"Person {i}", email=f"p{i}@busy.com")
        Note.objects.create(account=account, author=rep.user, body=f"note {i}")
    client = signed_in(rep.user)
    # One of them finds the person to contact.
    with django_assert_num_queries(15):
        assert client.get(reverse("account", args=[account.pk])).status_code == 200


def test_marking_contacted_records_who_did_it(rep, definition):
    (account,) = qualify_and_assign(lead("Harbor", rep=rep))
    client = signed_in(rep.user)

    response = client.post(reverse("account-outcome", args=[account.pk]), {"outcome": "contacted"}, follow=True)

    account.refresh_from_db()
    assert account.status == LeadStatus.CONTACTED
    change = account.status_changes.latest("changed_at")
    assert (change.from_status, change.to_status, change.changed_by, change.cause) == (
        "assigned", "contacted", rep.user, "user",
    )
    assert "Harbor marked contacted." in response.content.decode()
    assert '<span class="status contacted">Contacted</span>' in response.content.decode()


def test_converting_makes_the_account_a_customer(rep, definition):
    (account,) = qualify_and_assign(lead("Harbor", rep=rep))
    signed_in(rep.user).post(reverse("account-outcome", args=[account.pk]), {"outcome": "converted"})
    account.refresh_from_db()
    assert (account.status, account.plan) == (LeadStatus.CONVERTED, Plan.PAID)


def test_disqualifying_needs_a_reason(rep, definition):
    (account,) = qualify_and_assign(lead("Harbor", rep=rep))
    client = signed_in(rep.user)
    url = reverse("account-outcome", args=[account.pk])

    refused = client.post(url, {"outcome": "disqualified", "reason": "  "})
    assert refused.status_code == 400
    assert "Say why the account is disqualified." in refused.content.decode()
    assert Account.objects.get(pk=account.pk).status == LeadStatus.ASSIGNED

    client.post(url, {"outcome": "disqualified", "reason": "Student project"})
    change = StatusChange.objects.filter(account=account).latest("changed_at")
    assert (change.to_status, change.reason) == ("disqualified", "Student project")


def test_an_outcome_that_does_not_follow_is_refused_with_a_message(rep, definition):
    (account,) = qualify_and_assign(lead("Harbor", rep=rep))
    client = signed_in(rep.user)
    client.post(reverse("account-outcome", args=[account.pk]), {"outcome": "converted"})

    again = client.post(reverse("account-outcome", args=[account.pk]), {"outcome": "contacted"})

    assert again.status_code == 400
    assert Account.objects.get(pk=account.pk).status == LeadStatus.CONVERTED


def test_unknown_outcomes_are_a_form_error(rep, definition):
    (account,) = qualify_and_assign(lead("Harbor", rep=rep))
    response = signed_in(rep.user).post(reverse("account-outcome", args=[account.pk]), {"outcome": "pql"})
    assert response.status_code == 400
    assert Account.objects.get(pk=account.pk).status == LeadStatus.ASSIGNED


def test_notes_are_added_and_shown_escaped(rep, definition):
    (account,) = qualify_and_assign(lead("Harbor", rep=rep))
    client = signed_in(rep.user)

    client.post(reverse("account-note", args=[account.pk]), {"body": "Call back <script>alert(1)</script>"})
    empty = client.post(reverse("account-note", args=[account.pk]), {"body": "   "})

    html = client.get(reverse("account", args=[account.pk])).content.decode()
    assert "Call back &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert empty.status_code == 400
    assert Note.objects.count() == 1


def test_event_properties_are_escaped(rep, definition):
    (account,) = qualify_and_assign(lead("Harbor", rep=rep))
    Event.objects.create(
        account=account, name="page", occurred_at=NOW, properties={"<b>key": '"><img src=x onerror=alert(1)>'}
    )
    html = signed_in(rep.user).get(reverse("account", args=[account.pk])).content.decode()
    assert "<img src=x" not in html and "&lt;b&gt;key" in html


def test_actions_need_the_csrf_token(rep, definition):
    (account,) = qualify_and_assign(lead("Harbor", rep=rep))
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep.user)
    response = client.post(reverse("account-outcome", args=[account.pk]), {"outcome": "contacted"})
    assert response.status_code == 403
    assert Account.objects.get(pk=account.pk).status == LeadStatus.ASSIGNED


def test_another_reps_account_is_not_found(rep, other_rep, definition):
    (theirs,) = qualify_and_assign(lead("Theirs", rep=other_rep))
    client = signed_in(rep.user)
    assert client.get(reverse("account", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("account-outcome", args=[theirs.pk]), {"outcome": "contacted"}).status_code == 404
    assert client.post(reverse("account-note", args=[theirs.pk]), {"body": "hi"}).status_code == 404
    assert Account.objects.get(pk=theirs.pk).status == LeadStatus.ASSIGNED


def test_manager_pages_are_not_found_for_reps(rep):
    client = signed_in(rep.user)
    assert client.get(reverse("team")).status_code == 404
    assert client.post(reverse("team-assign", args=[1]), {"rep": rep.pk}).status_code == 404


def test_people_who_are_neither_rep_nor_manager_are_refused(django_user_model, account):
    outsider = signed_in(django_user_model.objects.create_user("eve", "eve@example.com", "pw"))
    for url in [reverse("queue"), reverse("account", args=[account.pk]), reverse("team")]:
        assert outsider.get(url).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(account):
    response = Client().get(reverse("account", args=[account.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_managers_see_every_account_and_any_reps_queue(manager, rep, definition):
    (account,) = qualify_and_assign(lead("Harbor", rep=rep))
    client = signed_in(manager)
    assert client.get(reverse("account", args=[account.pk])).status_code == 200
    assert names_in_order(client.get(reverse("queue"), {"rep": rep.pk})) == ["Harbor"]
    assert client.get(reverse("queue")).status_code == 302  # a manager without a queue goes to the team


def test_the_team_page_shows_each_reps_figures_and_the_unassigned_queue(manager, rep, other_rep, definition):
    called, _, _ = qualify_and_assign(
        lead("Called", rep=rep), lead("Late", rep=rep, waiting_hours=48), lead("Nobody's")
    )
    signed_in(rep.user).post(reverse("account-outcome", args=[called.pk]), {"outcome": "contacted"})

    response = signed_in(manager).get(reverse("team"))

    figures = {row.rep: row for row in response.context["figures"]}
    assert (figures[rep].open, figures[rep].overdue, figures[rep].contacted) == (2, 1, 1)
    assert (figures[other_rep].open, figures[other_rep].contacted) == (0, 0)
    assert names_in_order(response) == ["Nobody's"]


def test_team_page_queries_do_not_grow_with_the_team(manager, rep, definition, django_assert_num_queries):
    qualify_and_assign(*(lead(f"Co {i}", rep=rep if i % 2 else None) for i in range(30)))
    client = signed_in(manager)
    # 12 and the scoring freshness panel's, the book's open leads and
    # qualifying now (named as on Metrics and Lab), the rows' contacts.
    with django_assert_num_queries(16):
        assert client.get(reverse("team")).status_code == 200


def test_sign_in_and_out(rep):
    rep.user.set_password("a-long-enough-pw")
    rep.user.save()
    client = Client()
    response = client.post(reverse("login"), {"username": "ava", "password": "a-long-enough-pw"})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("queue")).status_code == 302


def test_page_url_names_are_not_taken_by_the_api():
    assert reverse("account", args=[1]) == "/accounts/1/"
    assert reverse("account-outcome", args=[1]) == "/accounts/1/outcome/"
    assert reverse("account-note", args=[1]) == "/accounts/1/notes/"
    assert reverse("api:account-outcome", args=[1]) == "/api/accounts/1/outcome/"


def test_a_queue_row_says_which_trigger_fired_and_who_to_contact(rep):
    from scoring.definitions import create_definition

    create_definition(
        name="Hands",
        is_active=True,
        score_threshold=100,
        criteria=[
            dict(label="Asked for sales", role="trigger", hand_raise=True, event_name="contact_sales_clicked",
                 operator="gte", value="1"),
            dict(label="Invited more than 10", role="trigger", event_name="invite_sent", operator="gt", value="10"),
        ],
    )
    asker_lead, inviter_lead = lead("Asker", rep=rep), lead("Inviter", rep=rep)
    asker, inviter = asker_lead[0], inviter_lead[0]
    boss = asker.people.create(name="Dana Cole", email="dana@asker.com", title="Head of Ops")
    asker.people.create(name="Other", email="other@asker.com", title="Intern")
    Event.objects.create(account=asker, person=boss, name="contact_sales_clicked", occurred_at=NOW)
    busy = inviter.people.create(name="Sam Busy", email="sam@inviter.com", title="Engineer")
    Event.objects.bulk_create(
        Event(account=inviter, person=busy, name="invite_sent", occurred_at=NOW) for _ in range(11)
    )
    qualify_and_assign(asker_lead, inviter_lead)
    client = signed_in(rep.user)

    with CaptureQueriesContext(connection) as queries:
        html = client.get(reverse("queue")).content.decode()
    rows = html.split('<tr class="')[1:]
    asker_row = next(row for row in rows if "Asker" in row)
    inviter_row = next(row for row in rows if "Inviter" in row)
    assert "Hand raised" in asker_row and "Hand raised" not in inviter_row
    assert "Qualified at once:</strong> Asked for sales" in asker_row
    assert "Qualified at once:</strong> Invited more than 10" in inviter_row
    assert 'Dana Cole</strong>, Head of Ops · <a href="mailto:dana@asker.com">' in asker_row
    assert "Sam Busy</strong>, Engineer" in inviter_row

    more = lead("Third", rep=rep)
    Event.objects.create(account=more[0], name="contact_sales_clicked", occurred_at=NOW)
    qualify_and_assign(more)
    with CaptureQueriesContext(connection) as again:
        client.get(reverse("queue"))
    assert len(again) == len(queries)

