"""Every sign-in path pauses repeated wrong passwords (django-axes), and the
token view is throttled per address (DRF)."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def low_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def guess_token(client, username, password="wrong"):  # noqa: S107
    return client.post("/api/token/", {"username": username, "password": password}, format="json")


def test_the_token_view_locks_a_username_out_after_repeated_wrong_passwords(rep):
    client = APIClient()
    for _ in range(LIMIT - 1):
        assert guess_token(client, "ava").status_code == 400
    locked = guess_token(client, "ava")
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) == 15 * 60
    assert "Too many failed sign-ins" in locked.json()["detail"]
    # Locked out even with the right password, until the cool-off ends.
    assert guess_token(client, "ava", "pw-rep-123").status_code == 429
    # Another username from the same address is not locked out.
    assert guess_token(client, "someone-else").status_code == 400


def test_a_right_password_before_the_limit_resets_the_count(rep):
    client = APIClient()
    for _ in range(LIMIT - 1):
        guess_token(client, "ava")
    assert guess_token(client, "ava", "pw-rep-123").status_code == 200
    for _ in range(LIMIT - 1):
        assert guess_token(client, "ava").status_code == 400


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_the_login_pages_lock_a_username_out_after_repeated_wrong_passwords(client, manager, path):
    for _ in range(LIMIT - 1):
        response = client.post(path, {"username": "morgan", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    locked = client.post(path, {"username": "morgan", "password": "wrong"})
    assert locked.status_code == 429
    assert locked["Retry-After"] == str(15 * 60)
    assert b"Too many failed sign-ins" in locked.content
    assert client.post(path, {"username": "morgan", "password": "pw-manager-123"}).status_code == 429


def test_the_token_view_is_throttled_per_address_whatever_the_username(settings, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    from leads.api.throttles import LoginThrottle

    monkeypatch.setattr(LoginThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, "login": "5/minute"})
    settings.AXES_FAILURE_LIMIT = 1000
    client = APIClient()
    statuses = [guess_token(client, f"user{i}").status_code for i in range(6)]
    assert statuses == [400] * 5 + [429]
    # A forged X-Forwarded-For does not buy a fresh limit.
    forged = client.post(
        "/api/token/", {"username": "x", "password": "y"}, format="json", HTTP_X_FORWARDED_FOR="10.9.8.7"
    )
    assert forged.status_code == 429
    assert "Retry-After" in forged
