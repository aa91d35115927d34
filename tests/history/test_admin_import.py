"""Importing accounts, people, reps and outcomes from CSV in the admin: a
preview with each row's errors before anything is written, matching on
external id or domain (or email, username) so nothing that exists is
created twice, and writes only once confirmed."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from leads.groups import SALES_REPS
from leads.models import Account, LeadStatus, Person, SalesRep, StatusCause, StatusChange

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def queues(inline_queues):
    """The full rescore after an import runs inline."""


@pytest.fixture
def harbor():
    return Account.objects.create(name="Harbor Legal", external_id="acct_harbor", domain="harborlegal.com",
                                  industry="legal")


def preview(client, model: str, text: str):
    """Upload a CSV to the model's import page; returns the preview page."""
    url = reverse(f"admin:leads_{model}_import")
    form = client.get(url).content.decode()
    csv_format = re.search(r'<option value="(\d+)"[^>]*>csv</option>', form).group(1)
    upload = SimpleUploadedFile("rows.csv", text.encode(), content_type="text/csv")
    response = client.post(url, {"import_file": upload, "format": csv_format})
    assert response.status_code == 200
    return response


def confirm(client, model: str, page):
    """Post the preview's confirm form, as the Confirm button does."""
    form = page.context["confirm_form"]
    assert form is not None, "the preview has errors and no confirm button"
    response = client.post(reverse(f"admin:leads_{model}_process_import"), form.initial)
    assert response.status_code == 302
    return response


ACCOUNTS = """external_id,name,domain,industry,country,employee_count
acct_harbor,,harborlegal.com,,US,45
,,HarborLegal.com,,,50
acct_new,New Co,newco.example,saas,DE,12
acct_bad,Bad Co,bad.example,,USA,-3
"""


def test_the_account_preview_shows_row_errors_and_writes_nothing(manager_client, harbor):
    page = preview(manager_client, "account", ACCOUNTS)

    text = page.content.decode()
    assert page.context["result"].has_validation_errors()
    assert "Use a two-letter ISO 3166 country code" in text
    assert "Line number: 4" in text or "acct_bad" in text
    assert page.context.get("confirm_form") is None
    harbor.refresh_from_db()
    assert Account.objects.count() == 1 and (harbor.country, harbor.employee_count) == ("", None)


def test_accounts_are_matched_on_external_id_or_domain_and_written_once_confirmed(manager_client, harbor):
    page = preview(manager_client, "account", ACCOUNTS.rsplit("acct_bad", 1)[0])
    assert not page.context["result"].has_validation_errors()
    assert Account.objects.count() == 1  # the preview wrote nothing

    confirm(manager_client, "account", page)

    assert Account.objects.count() == 2  # the domain row matched Harbor: no second Harbor
    harbor.refresh_from_db()
    # An empty cell keeps what the account had; the later row (by domain) wins its employee count.
    assert (harbor.name, harbor.industry, harbor.country, harbor.employee_count) == ("Harbor Legal", "legal", "US", 50)
    new = Account.objects.get(external_id="acct_new")
    assert (new.name, new.domain, new.country, new.employee_count) == ("New Co", "newco.example", "DE", 12)


def test_an_external_id_that_contradicts_the_domains_account_is_a_row_error(manager_client, harbor):
    page = preview(manager_client, "account", "external_id,domain\nacct_other,harborlegal.com\n")

    assert page.context["result"].has_validation_errors()
    assert "has the external id acct_harbor" in page.content.decode()
    assert Account.objects.count() == 1


def test_people_are_matched_on_user_id_or_email_and_linked_to_their_account(manager_client, harbor):
    jo = Person.objects.create(email="jo@harborlegal.com", name="Jo")
    page = preview(manager_client, "person",
                   "external_id,email,name,title,account\n"
                   "u1,jo@harborlegal.com,,Associate,harborlegal.com\n"
                   "u2,kim@harborlegal.com,Kim,Paralegal,acct_harbor\n")
    assert Person.objects.count() == 1

    confirm(manager_client, "person", page)

    jo.refresh_from_db()
    assert (jo.external_id, jo.name, jo.title, jo.account) == ("u1", "Jo", "Associate", harbor)
    assert Person.objects.get(external_id="u2").account == harbor


def test_an_unknown_account_is_a_row_error_for_a_person(manager_client):
    page = preview(manager_client, "person", "external_id,account\nu1,nowhere.example\n")
    assert page.context["result"].has_validation_errors()
    assert "No account has the external id or domain nowhere.example" in page.content.decode()
    assert not Person.objects.exists()


def test_reps_are_created_with_a_user_in_the_reps_group_or_matched_by_username(manager_client, rep):
    page = preview(manager_client, "salesrep",
                   "username,email,first_name,last_name,capacity,countries,tiers,industries\n"
                   f"{rep.user.username},,,,25,US;CA,,\n"
                   "lee,lee@example.com,Lee,Chan,30,de,\"mid, large\",legal\n")
    assert SalesRep.objects.count() == 1

    confirm(manager_client, "salesrep", page)

    rep.refresh_from_db()
    assert (rep.capacity, rep.countries) == (25, ["US", "CA"])
    lee = SalesRep.objects.get(user__username="lee")
    assert (lee.capacity, lee.countries, lee.tiers, lee.industries) == (30, ["DE"], ["mid", "large"], ["legal"])
    assert lee.user.groups.filter(name=SALES_REPS).exists() and not lee.user.has_usable_password()
    assert User.objects.filter(username="lee").count() == 1


def test_a_bad_tier_is_a_row_error_for_a_rep(manager_client):
    page = preview(manager_client, "salesrep", "username,tiers\nlee,huge\n")
    assert "huge is not a tier" in page.content.decode()
    assert not SalesRep.objects.exists() and not User.objects.filter(username="lee").exists()


def test_outcomes_import_in_the_admin_previews_then_records(manager_client, harbor):
    pql_at = timezone.now() - timedelta(days=20)
    StatusChange.objects.create(account=harbor, from_status="signed_up", to_status="pql", changed_at=pql_at,
                                cause=StatusCause.SCORING)
    Account.objects.filter(pk=harbor.pk).update(status=LeadStatus.PQL)
    won_at = (pql_at + timedelta(days=5)).replace(microsecond=0)
    too_early = (pql_at - timedelta(days=5)).date().isoformat()

    page = preview(manager_client, "statuschange",
                   f"external_id,outcome,date,reason\nacct_harbor,converted,{too_early},\n")
    assert "a later status stands: pql on" in page.content.decode()
    assert page.context.get("confirm_form") is None

    page = preview(manager_client, "statuschange",
                   f"external_id,outcome,date,reason\nacct_harbor,converted,{won_at.isoformat()},Annual\n")
    assert not StatusChange.objects.filter(cause=StatusCause.IMPORT).exists()  # the preview wrote nothing
    confirm(manager_client, "statuschange", page)

    change = StatusChange.objects.get(cause=StatusCause.IMPORT)
    assert (change.from_status, change.to_status, change.changed_at, change.reason) == (
        "pql", "converted", won_at, "Annual")
    assert Account.objects.get(pk=harbor.pk).status == LeadStatus.CONVERTED


def test_reps_cannot_import(rep, harbor):
    rep.user.is_staff = True
    rep.user.save()
    client = Client()
    client.force_login(rep.user)
    # The admin is for managers: a rep with staff status is sent to sign in.
    response = client.get(reverse("admin:leads_account_import"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
