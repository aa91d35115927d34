"""A manager's alert choice (at once, or a daily digest of unowned and
overdue leads): on /settings/, where the manager works, and in the admin."""

import pytest
from django.test import Client
from django.urls import reverse

from alerts.models import ManagerAlerts
from leads.models import AlertTiming
from tests.factories import ManagerFactory, RepFactory

pytestmark = pytest.mark.django_db


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_a_manager_chooses_the_daily_digest_on_the_settings_page(manager):
    client = signed_in(manager)
    page = client.get(reverse("settings"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Tell me of unowned and overdue leads" in text
    assert page.context["manager_form"].initial["alert_timing"] == AlertTiming.INSTANT
    assert page.context["form"] is None  # not a rep: no absence to set
    assert 'href="/settings/"' in text  # the navigation leads here

    response = client.post(
        reverse("settings"),
        {"manager-alert_timing": "digest", "manager-slack_webhook_url": "https://hooks.slack.example/T0/B0/x"},
    )

    assert response.status_code == 302
    choice = ManagerAlerts.objects.get(user=manager)
    assert (choice.alert_timing, choice.slack_webhook_url) == ("digest", "https://hooks.slack.example/T0/B0/x")
    assert client.get(reverse("settings")).context["manager_form"].initial["alert_timing"] == "digest"


@pytest.mark.parametrize(
    "data, field, error",
    [
        ({"manager-alert_timing": "weekly"}, "alert_timing", "Select a valid choice"),
        ({}, "alert_timing", "This field is required"),
        (
            {"manager-alert_timing": "digest", "manager-slack_webhook_url": "ftp://files.example/x"},
            "slack_webhook_url",
            "Use an http:// or https:// URL",
        ),
    ],
)
def test_a_wrong_choice_is_a_400_naming_the_field_and_saves_nothing(manager, data, field, error):
    response = signed_in(manager).post(reverse("settings"), data)

    assert response.status_code == 400
    assert error in str(response.context["manager_form"].errors[field])
    assert not ManagerAlerts.objects.exists()


def test_a_rep_who_manages_too_saves_both_at_once_or_neither(db):
    user = ManagerFactory(username="rae")
    rep = RepFactory(user=user)
    client = signed_in(user)

    bad = client.post(reverse("settings"), {"alert_timing": "digest", "manager-alert_timing": "sometimes"})
    assert bad.status_code == 400
    rep.refresh_from_db()
    assert rep.alert_timing == AlertTiming.INSTANT  # no half write
    assert not ManagerAlerts.objects.exists()

    good = client.post(reverse("settings"), {"alert_timing": "digest", "manager-alert_timing": "digest"})
    assert good.status_code == 302
    rep.refresh_from_db()
    assert rep.alert_timing == AlertTiming.DIGEST
    assert ManagerAlerts.objects.get(user=user).alert_timing == AlertTiming.DIGEST


def test_a_rep_sees_no_managers_choice(rep):
    page = signed_in(rep.user).get(reverse("settings"))
    assert page.status_code == 200
    assert page.context["manager_form"] is None
    assert "unowned and overdue" not in page.content.decode()


def test_a_manager_sets_another_managers_choice_in_the_admin_and_only_for_a_manager(superuser, manager, rep):
    client = signed_in(superuser)
    add = reverse("admin:alerts_manageralerts_add")

    refused = client.post(add, {"user": rep.user.pk, "alert_timing": "digest", "slack_webhook_url": ""})
    assert refused.status_code == 200
    assert "Choose a sales manager" in str(refused.context["adminform"].form.errors["user"])

    saved = client.post(add, {"user": manager.pk, "alert_timing": "digest", "slack_webhook_url": ""})
    assert saved.status_code == 302
    assert ManagerAlerts.objects.get(user=manager).alert_timing == AlertTiming.DIGEST
    listing = client.get(reverse("admin:alerts_manageralerts_changelist")).content.decode()
    assert "In a daily digest" in listing
