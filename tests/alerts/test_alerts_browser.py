"""In a real browser: a rep marks herself away on her settings page; a new
PQL then goes to her colleague, whose navigation counts it and whose queue
marks it new. Screenshots go to var/screenshots/."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from leads.models import Account, Event, LeadStatus, SalesRep
from scoring.definitions import create_definition
from scoring.rescoring import rescore_accounts
from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_reps(make_rep, make_team, settings, inline_queues):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ava, ben = make_rep("ava"), make_rep("ben")
    for rep in (ava, ben):
        rep.user.set_password(f"{rep.user.username}-browser-pw")
        rep.user.save()
    make_team("Sales", ava, ben)
    create_definition(
        name="Hand-raisers",
        is_active=True,
        score_threshold=100,
        criteria=[dict(label="Asked for sales", role="trigger", event_name="contact_sales_clicked",
                       operator="gte", value="1")],
    )  # fmt: skip
    return ava, ben


def sign_in(browser, live_server, username, *, viewport=None):
    page = browser.new_page(viewport=viewport or {"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"{username}-browser-pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/queue/")
    return page


def hand_raise(name: str) -> Account:
    account = Account.objects.create(name=name, country="US", industry="legal", employee_count=80)
    account.people.create(name="Jo Park", email="jo@harbor.example", title="Operations lead")
    Event.objects.create(account=account, name="contact_sales_clicked", occurred_at=timezone.now())
    rescore_accounts([account.pk])
    return account


def test_with_one_rep_away_a_new_pql_goes_to_a_colleague_and_is_marked_new(live_server, browser, two_reps):
    ava, ben = two_reps
    # Ava, on her phone, says she is away from today for a week.
    phone = sign_in(browser, live_server, "ava", viewport={"width": 390, "height": 844})
    phone.get_by_role("link", name="Settings").click()
    today = timezone.localdate()
    phone.get_by_label("Away from").fill(f"{today:%Y-%m-%d}")
    phone.get_by_label("Back on").fill(f"{today + timedelta(days=7):%Y-%m-%d}")
    phone.get_by_role("button", name="Save").click()
    phone.wait_for_load_state()
    assert "Settings saved." in phone.inner_text("main")
    assert "You are away until" in phone.inner_text("main")
    phone.screenshot(path=str(SCREENSHOTS / "settings-away.png"), full_page=True)
    assert SalesRep.objects.get(pk=ava.pk).is_away(timezone.now())

    desk = sign_in(browser, live_server, "ben")  # Ben's queue is empty and now seen
    assert desk.locator("table.leads").count() == 0

    account = hand_raise("Harbor Legal LLP")
    assert Account.objects.get(pk=account.pk).owner_id == ben.pk
    assert Account.objects.get(pk=account.pk).status == LeadStatus.ASSIGNED
    assert [m.to for m in mail.outbox] == [["ben@sales.example"]]

    desk.get_by_role("link", name="Settings").click()
    queue_link = desk.get_by_role("link", name="Queue")
    assert queue_link.inner_text().split() == ["Queue", "1", "new"]
    queue_link.click()
    desk.wait_for_url(f"{live_server.url}/queue/")
    row = desk.locator("table.leads tbody tr").first
    assert "Harbor Legal LLP" in row.inner_text()
    assert row.locator(".badge.new").inner_text() == "NEW"
    assert "1 new since your last visit" in desk.inner_text("main")
    desk.screenshot(path=str(SCREENSHOTS / "queue-new.png"), full_page=True)

    desk.reload()
    assert desk.locator("table.leads tbody tr .badge.new").count() == 0
