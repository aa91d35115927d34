"""One writer of account data (leads.services.update_account): the API and the
admin go through it, and a change of fit data rescores the account at once."""

import pytest
from django.forms.models import model_to_dict
from rest_framework.test import APIClient

from leads.models import Account, LeadStatus
from leads.services import FIT_FIELDS, update_account
from scoring.rescoring import rescore_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(account, definition, inline_queues):
    """The account (45 employees) scored small under a definition with tiers at 50 and 500."""
    rescore_all()
    account.refresh_from_db()
    assert account.score.tier == "small"
    return account


def test_update_account_saves_what_differs_and_says_what_changed(account):
    changed = update_account(account=account, employee_count=45, industry="accounting")
    assert changed == {"industry"}
    assert Account.objects.get(pk=account.pk).industry == "accounting"


def test_update_account_refuses_status_and_owner(account):
    with pytest.raises(ValueError, match="owner, status"):
        update_account(account=account, status=LeadStatus.PQL, owner=None)


def test_an_employee_count_patched_through_the_api_rescores_the_account(
    scored, manager, django_capture_on_commit_callbacks
):
    client = APIClient()
    client.force_authenticate(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.patch(f"/api/accounts/{scored.pk}/", {"employee_count": 5000}, format="json")
    assert response.status_code == 200, response.content
    scored.refresh_from_db()
    assert (scored.employee_count, scored.score.tier) == (5000, "large")


def test_an_api_update_that_changes_nothing_asks_for_no_rescore(
    scored, manager, django_capture_on_commit_callbacks
):
    client = APIClient()
    client.force_authenticate(manager)
    with django_capture_on_commit_callbacks() as callbacks:
        client.patch(f"/api/accounts/{scored.pk}/", {"employee_count": 45}, format="json")
    assert callbacks == []


def admin_form(account, **changes):
    data = {k: v for k, v in model_to_dict(account).items() if v is not None}
    data.update(
        traits="{}",
        signed_up_at_0=account.signed_up_at.strftime("%Y-%m-%d"),
        signed_up_at_1=account.signed_up_at.strftime("%H:%M:%S"),
        **{f"{prefix}-{key}": value for prefix in ("people", "status_changes")
           for key, value in (("TOTAL_FORMS", 0), ("INITIAL_FORMS", 0))},
    )
    data.pop("external_id", None)
    data.update(changes)
    return data


def test_an_employee_count_saved_in_the_admin_rescores_the_account(
    scored, client, superuser, django_capture_on_commit_callbacks
):
    client.force_login(superuser)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/admin/leads/account/{scored.pk}/change/", admin_form(scored, employee_count=5000)
        )
    assert response.status_code == 302, response.context["adminform"].form.errors
    scored.refresh_from_db()
    assert (scored.employee_count, scored.score.tier) == (5000, "large")


def test_the_admin_keeps_external_id_after_the_account_is_added(scored, client, superuser):
    client.force_login(superuser)
    client.post(f"/admin/leads/account/{scored.pk}/change/", admin_form(scored, external_id="acct_new"))
    scored.refresh_from_db()
    assert scored.external_id == "acct_harbor"


def test_fit_fields_are_the_accounts_editable_data():
    assert {"employee_count", "industry", "country", "plan", "signed_up_at", "traits"} <= FIT_FIELDS
    assert not {"status", "owner", "last_event_at"} & FIT_FIELDS
