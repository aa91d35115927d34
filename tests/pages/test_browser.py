"""A rep's day in a real browser: sign in, open the queue, open an account,
mark it contacted and see the new status. Screenshots go to var/screenshots/."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import Account, Event, LeadStatus
from leads.services import Assignment, assign_accounts
from scoring.definitions import create_definition
from scoring.rescoring import rescore_all
from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def rep_with_leads(rep):
    rep.user.set_password("queue-walkthrough-pw")
    rep.user.save()
    create_definition(
        name="Browser test",
        is_active=True,
        score_threshold=10,
        criteria=[
            dict(label="Asked for sales", role="trigger", event_name="contact_sales_clicked",
                 operator="gte", value="1"),
            dict(label="Invited teammates", points=10, event_name="invite_sent", operator="gte",
                 value="1"),
        ],
    )
    now = timezone.now()
    for name, events, employees in [
        ("Harbor Legal LLP", ["contact_sales_clicked", "invite_sent"], 45),
        ("Northwind Analytics", ["invite_sent"], 900),
        ("Maple Books", ["invite_sent"], 12),
    ]:
        account = Account.objects.create(
            name=name, industry="legal", country="US", employee_count=employees, domain=f"{name.split()[0].lower()}.com"
        )
        account.people.create(name="Jo Park", email=f"jo@{account.domain}", title="Senior Associate")
        Event.objects.bulk_create(
            Event(account=account, name=event, occurred_at=now - timedelta(hours=5), properties={"plan": "business"})
            for event in events
        )
    rescore_all()
    for account in Account.objects.all():
        assign_accounts(
            assignments={account.pk: Assignment(rep.pk, "Routed", now + timedelta(hours=20))}, cause="routing"
        )
    return rep


def test_a_rep_signs_in_opens_an_account_and_marks_it_contacted(live_server, browser, rep_with_leads):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("ava")
    page.get_by_label("Password").fill("queue-walkthrough-pw")
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(f"{live_server.url}/queue/")
    rows = page.locator("table.leads tbody tr")
    assert rows.count() == 3
    assert "Harbor Legal LLP" in rows.first.inner_text()  # the hand-raiser comes first
    page.screenshot(path=str(SCREENSHOTS / "queue.png"), full_page=True)

    page.get_by_role("link", name="Harbor Legal LLP").click()
    page.wait_for_url(f"{live_server.url}/accounts/*/")
    assert "Asked for sales" in page.inner_text("main")
    page.screenshot(path=str(SCREENSHOTS / "account.png"), full_page=True)

    page.get_by_label("Contacted").check()
    page.get_by_role("button", name="Save outcome").click()
    page.wait_for_load_state()

    assert page.locator("h1 .status").inner_text().strip().lower() == "contacted"
    assert "Harbor Legal LLP marked contacted." in page.inner_text("main")
    assert Account.objects.get(name="Harbor Legal LLP").status == LeadStatus.CONTACTED


def test_the_queue_is_usable_on_a_phone(live_server, browser, rep_with_leads):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("ava")
    page.get_by_label("Password").fill("queue-walkthrough-pw")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/queue/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=str(SCREENSHOTS / "queue-phone.png"), full_page=True)
