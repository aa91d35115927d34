"""Managers add webhook endpoints in the admin: the URL is vetted (http(s),
no internal addresses unless allowed), the signing secret is shown once."""

import re

import pytest
from django.urls import reverse

from leads.webhooks import delivery
from leads.webhooks.endpoints import create_endpoint
from leads.webhooks.models import Attempt, Delivery, Endpoint
from leads.webhooks.targets import TargetRefused, check_target, display_url

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{40,}")


@pytest.fixture
def production(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    return settings


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8000/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.0.10/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://0.0.0.0/hook", "reserved"),
    ],
)
def test_internal_targets_are_refused_in_production(production, url, why):
    with pytest.raises(TargetRefused, match=why):
        check_target(url)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/", "http:///nohost"]
)
def test_only_http_and_https(url):
    with pytest.raises(TargetRefused):
        check_target(url)


def test_credentials_in_the_url_are_refused_and_never_shown():
    with pytest.raises(TargetRefused, match="credentials") as refused:
        check_target("https://user:hunter2@example.com/hook")
    assert "hunter2" not in str(refused.value)
    assert display_url("https://user:hunter2@example.com:8443/hook") == "https://example.com:8443/hook"


def test_loopback_allowed_when_the_setting_says(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    assert check_target("http://127.0.0.1:9/hook").addresses == ("127.0.0.1",)


def test_a_target_that_turned_internal_is_refused_at_send_time(settings, receiver, account):
    """Saved while allowed; at send time the address is checked again."""
    endpoint, _ = create_endpoint(url=receiver.url, event_types=["lead.qualified"])
    from tests.webhooks.test_webhook_delivery import message

    delivery.fan_out([message(account)])
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    delivery.deliver_due(endpoint.pk)
    assert receiver.received == []
    attempt = Attempt.objects.get()
    assert "Not sent" in attempt.error and "loopback" in attempt.error
    assert Delivery.objects.get().status == "pending"  # retried: DNS may change back


def test_the_admin_refuses_an_internal_url_with_a_form_error(production, client, manager):
    client.force_login(manager)
    response = client.post(
        reverse("admin:webhooks_endpoint_add"),
        {"url": "http://169.254.169.254/", "event_types": ["lead.qualified"], "is_active": "on"},
    )
    assert response.status_code == 200
    assert "link-local" in response.content.decode()
    assert not Endpoint.objects.exists()


def test_the_secret_is_shown_once_on_creation_and_never_again(client, manager):
    client.force_login(manager)
    response = client.post(
        reverse("admin:webhooks_endpoint_add"),
        {
            "url": "http://127.0.0.1:9/hooks/pql",
            "description": "HubSpot via n8n",
            "event_types": ["lead.qualified", "lead.converted"],
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    endpoint = Endpoint.objects.get()
    assert endpoint.created_by == manager
    assert endpoint.event_types == ["lead.qualified", "lead.converted"]
    shown = SECRET.findall(response.content.decode())
    assert shown == [endpoint.secret]
    assert "not shown again" in response.content.decode()

    for url in (
        reverse("admin:webhooks_endpoint_changelist"),
        reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]),
        reverse("admin:webhooks_endpoint_history", args=[endpoint.pk]),
        reverse("admin:webhooks_delivery_changelist"),
        reverse("admin:webhooks_attempt_changelist"),
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert endpoint.secret.removeprefix("whsec_")[:16] not in page.content.decode(), url
    # Nothing kept it for later: not the session, not a message cookie.
    assert endpoint.secret not in str(dict(client.session))
    assert all(endpoint.secret not in morsel.value for morsel in client.cookies.values())


def test_rotating_shows_the_new_secret_once(client, manager):
    endpoint, old = create_endpoint(url="http://127.0.0.1:9/hooks", event_types=["lead.qualified"])
    client.force_login(manager)
    response = client.post(
        reverse("admin:webhooks_endpoint_changelist"),
        {"action": "rotate_secrets", "_selected_action": [endpoint.pk]},
    )
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    assert SECRET.findall(response.content.decode()) == [endpoint.secret]
    page = client.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk])).content.decode()
    assert not SECRET.search(page)


def test_a_manager_changes_an_endpoint_through_the_admin(client, manager):
    endpoint, _ = create_endpoint(url="http://127.0.0.1:9/hooks", event_types=["lead.qualified"])
    client.force_login(manager)
    response = client.post(
        reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]),
        {
            "url": "http://127.0.0.1:9/v2/hooks",
            "description": "",
            "event_types": ["lead.assigned"],
            "is_active": "on",
            "attempts-TOTAL_FORMS": "0",
            "attempts-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint.refresh_from_db()
    assert endpoint.url == "http://127.0.0.1:9/v2/hooks" and endpoint.event_types == ["lead.assigned"]


def test_the_admin_lists_deliveries_and_attempts_and_replays(client, manager, account, receiver):
    from tests.webhooks.test_webhook_delivery import message

    endpoint, receiver.secret = create_endpoint(url=receiver.url, event_types=["lead.qualified"])
    receiver.answers = [410]
    delivery.fan_out([message(account)])
    delivery.deliver_due(endpoint.pk)
    failed = Delivery.objects.get()
    assert failed.status == "failed"
    client.force_login(manager)
    page = client.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk])).content.decode()
    assert "HTTP 410" in page and "latest 25 attempts" in page.lower()
    assert "HTTP 410" in client.get(reverse("admin:webhooks_attempt_changelist")).content.decode()
    assert client.get(reverse("admin:webhooks_delivery_change", args=[failed.pk])).status_code == 200

    response = client.post(
        reverse("admin:webhooks_delivery_changelist"),
        {"action": "replay", "_selected_action": [failed.pk]},
    )
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == "pending" and failed.attempts == 0  # a fresh set of retries
