"""Stored XSS: whatever a product, a CDP or a colleague typed into a name, a
trait, a title, an event property, a note or a criterion's label is shown as
text on every page and in the admin, never run as markup."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from leads.models import Account, Event, Note, Person, Source, StatusCause, Team
from leads.services import Assignment, assign_accounts, record_outcome
from scoring.definitions import create_definition
from scoring.rescoring import rescore_all

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('pwned')</script>"
ATTRIBUTE = "\"><img src=x onerror=alert('pwned')>"
# What would show if either payload reached the page unescaped.
# (Escaped, the text "onerror=alert(" may show: it is harmless outside a tag.)
RAW = ("<script>alert(", "<img src=x")


def planted(text: str) -> str:
    return f"{text} {SCRIPT} {ATTRIBUTE}"


@pytest.fixture
def hostile_book(rep, manager):
    """An account, a person, events, notes, a rep and a definition, each
    carrying both payloads in every text a user can set."""
    rep.user.first_name = planted("Ava")
    rep.user.save()
    definition = create_definition(
        name=planted("Sales-ready"),
        is_active=True,
        score_threshold=10,
        criteria=[
            dict(label=planted("Asked for sales"), role="trigger", event_name="contact_sales_clicked",
                 operator="gte", value="1"),
            dict(label=planted("Title"), family="fit", kind="attribute", subject="any_person",
                 field="title", operator="contains_words", value="founder", points=5),
        ],
    )
    account = Account.objects.create(
        name=planted("Harbor"), domain="harbor.example", industry=planted("legal"), country="US",
        employee_count=45, external_id="acct_harbor",
        traits={planted("tier"): planted("gold"), "plan_note": SCRIPT},
    )
    person = Person.objects.create(
        account=account, external_id="u1", email="jo@harbor.example", name=planted("Jo"),
        title=planted("Founder"), traits={planted("seats"): ATTRIBUTE},
    )
    now = timezone.now()
    Event.objects.create(
        account=account, person=person, name="contact_sales_clicked", occurred_at=now - timedelta(hours=1),
        properties={planted("key"): planted("value"), "nested": {"html": SCRIPT}},
    )
    Event.objects.create(account=account, person=person, name=planted("custom"), occurred_at=now)
    rescore_all()
    assign_accounts(
        assignments={account.pk: Assignment(rep.pk, planted("rule"), now + timedelta(hours=24))},
        cause=StatusCause.ROUTING,
    )
    Note.objects.create(account=account, author=rep.user, body=planted("Call back"))
    record_outcome(account_id=account.pk, outcome="contacted", changed_by=rep.user, reason=planted("Left a message"))
    Source.objects.create(name=planted("Product"), slug="product")
    Team.objects.create(name=planted("Inbound"))
    return account, person, definition


def assert_escaped(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    html = response.content.decode()
    for raw in RAW:
        assert raw not in html, f"{url} shows {raw!r} unescaped"
    return html


def test_every_page_shows_the_payloads_as_text(client, rep, manager, hostile_book):
    account, _, definition = hostile_book
    client.force_login(rep.user)
    seen = ""
    for url in ["/queue/", f"/accounts/{account.pk}/"]:
        seen += assert_escaped(client, url)
    client.force_login(manager)
    for url in [f"/queue/?rep={rep.pk}", f"/accounts/{account.pk}/", "/team/", "/metrics/", "/lab/",
                f"/lab/{definition.pk}/"]:
        seen += assert_escaped(client, url)
    # The payloads did reach the pages, as text.
    assert "&lt;script&gt;alert(" in seen
    assert "&lt;img src=x onerror=alert(" in seen


def test_every_admin_page_shows_the_payloads_as_text(client, superuser, hostile_book):
    client.force_login(superuser)
    seen = assert_escaped(client, reverse("admin:index"))
    for model in admin.site._registry:
        meta = model._meta
        if not meta.managed or meta.app_label == "django_rq":
            continue
        seen += assert_escaped(client, reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        obj = model._default_manager.order_by("pk").first()
        if obj is not None:
            seen += assert_escaped(
                client, reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
            )
    assert "&lt;script&gt;alert(" in seen

