"""Bad input to the API is a 4xx that names what was wrong, never a 500."""

import base64

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def client_of(user) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)
    return client


def cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "value",
    [
        cursor("p=zzz"),
        cursor("p=9999-99-99"),
        cursor("p=0001-01-01 00:00:00+14:00"),
        cursor("p=2026-01-01 00:00:00"),
        cursor("o=-5"),
        cursor("r=x"),
        base64.b64encode(b"p=\xff\xfe").decode(),
        "\u00e9t\u00e9",
    ],
)
def test_a_garbage_events_cursor_is_a_4xx(manager, account, make_event, value):
    make_event()
    response = client_of(manager).get("/api/events/", {"cursor": value})
    assert response.status_code in (400, 404), response.content
    assert "cursor" in response.content.decode().lower()


@pytest.mark.parametrize("value", ["maybe", "2", "yes please", "-1"])
@pytest.mark.parametrize("name", ["qualifies", "unassigned"])
def test_a_boolean_filter_refuses_what_is_not_true_or_false(manager, account, name, value):
    response = client_of(manager).get("/api/accounts/", {name: value})
    assert response.status_code == 400, response.content
    assert name in response.json()


@pytest.mark.parametrize("traits", [[1, 2], "a string", 12, None, True])
def test_traits_that_are_not_an_object_are_a_400_naming_the_field(manager, account, traits):
    response = client_of(manager).patch(f"/api/accounts/{account.pk}/", {"traits": traits}, format="json")
    assert response.status_code == 400, response.content
    assert "traits" in response.json()
    account.refresh_from_db()
    assert account.traits == {}


def test_traits_nested_too_deep_are_a_400_naming_the_field(manager, account):
    deep: dict = {}
    for _ in range(200):
        deep = {"a": deep}
    response = client_of(manager).patch(f"/api/accounts/{account.pk}/", {"traits": deep}, format="json")
    assert response.status_code == 400
    assert "traits" in response.json()


def test_traits_that_are_an_object_are_stored(manager, account):
    response = client_of(manager).patch(
        f"/api/accounts/{account.pk}/", {"traits": {"seats": 12, "tags": ["a"]}}, format="json"
    )
    assert response.status_code == 200, response.content
    account.refresh_from_db()
    assert account.traits == {"seats": 12, "tags": ["a"]}


def test_external_id_is_read_only_through_the_api(manager, account):
    response = client_of(manager).patch(
        f"/api/accounts/{account.pk}/", {"external_id": "acct_other", "name": "Harbor"}, format="json"
    )
    assert response.status_code == 200
    account.refresh_from_db()
    assert (account.external_id, account.name) == ("acct_harbor", "Harbor")


@pytest.mark.parametrize("path", ["/api/token/", "/api/accounts/{pk}/"])
def test_a_body_nested_ten_thousand_levels_is_a_400(manager, account, path):
    body = "[" * 10_000 + "]" * 10_000
    client = client_of(manager)
    send = client.post if path == "/api/token/" else client.patch
    response = send(path.format(pk=account.pk), body, content_type="application/json")
    assert response.status_code == 400, response.content


def test_a_database_that_refuses_connections_is_a_json_503_with_retry_after(manager, monkeypatch):
    from django.db import OperationalError

    from leads.api import views

    def refuse(user):
        raise OperationalError("FATAL: sorry, too many clients already")

    monkeypatch.setattr(views, "visible_accounts", refuse)
    response = client_of(manager).get("/api/accounts/")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"].isdigit()
    assert "unavailable" in response.json()["detail"]


def test_an_unknown_ordering_is_a_400_naming_it(manager, account):
    response = client_of(manager).get("/api/accounts/", {"ordering": "password"})
    assert response.status_code == 400
    assert "ordering" in response.json()
    assert client_of(manager).get("/api/accounts/", {"ordering": "-name"}).status_code == 200


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_the_definitions_active_filter_refuses_what_is_not_true_or_false(manager, value):
    response = client_of(manager).get("/api/definitions/", {"is_active": value})
    assert response.status_code == 400
    assert "is_active" in response.json()


def test_an_unknown_plan_is_a_400_naming_it(manager, account):
    response = client_of(manager).get("/api/accounts/", {"plan": "enterprise"})
    assert response.status_code == 400
    assert "plan" in response.json()
