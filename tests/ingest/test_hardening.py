"""What an attacker or a careless client sent that once broke ingest or a
page: out-of-range and future times, deep nesting, lone surrogates, empty
and doubled gzip bodies, traits that are not an object. Each is a 4xx
naming the field, or is stored so that every page still renders."""

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from leads.ingest.messages import STORED_DEPTH
from leads.models import Account, Event, Person

pytestmark = pytest.mark.django_db

AT = "2025-03-01T12:00:00.000Z"


@pytest.fixture(autouse=True)
def rescores_inline(inline_queues):
    """Rescores run inline."""


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def send(client, payload, *, key=None, path="/v1/batch", **headers):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = basic(key)
    return client.post(path, body, content_type="application/json", **headers)


def track(n=1, **fields):
    return {"type": "track", "messageId": f"track-{n}", "userId": "u1", "event": "login",
            "timestamp": AT, **fields}


def group(group_id="acct_harbor", **traits):
    return {"type": "group", "messageId": f"group-{group_id}", "userId": "u1", "groupId": group_id,
            "timestamp": AT, "traits": traits}


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def problems(response) -> list[tuple]:
    return [(problem["index"], problem["field"]) for problem in response.json().get("errors", [])]


# --- times -------------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z", "1999-12-31T00:00:00Z"],
)
def test_an_event_time_outside_the_range_is_a_400_naming_the_field_and_stores_nothing(
    client, source, account, timestamp
):
    response = send(client, {"batch": [group(), track(timestamp=timestamp)]}, key=source.write_key)
    assert response.status_code == 400
    assert problems(response) == [(1, "timestamp")]
    assert not Event.objects.exists()
    account.refresh_from_db()
    assert account.last_event_at is None


@pytest.mark.parametrize("created_at", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00Z", "2200-01-01T00:00:00Z"])
def test_a_created_at_outside_the_signup_range_is_a_400_naming_the_trait(client, source, created_at):
    response = send(client, {"batch": [group(createdAt=created_at)]}, key=source.write_key)
    assert response.status_code == 400
    assert problems(response) == [(0, "traits.createdAt")]
    assert not Account.objects.exists()


def test_a_client_clock_far_ahead_is_corrected_by_sent_at(client, source, account):
    """Five logins dated 2200 by a client whose clock says 2200: stored at
    about now, so they cannot pin last_event_at or hold a criterion for ever."""
    sent_at = "2200-01-01T12:00:00Z"
    logins = [track(n, timestamp=f"2200-01-01T11:5{n}:00Z") for n in range(5)]
    grouped = {**group(), "timestamp": "2200-01-01T11:40:00Z"}
    response = send(client, {"batch": [grouped, *logins], "sentAt": sent_at}, key=source.write_key)
    assert response.status_code == 200
    now = timezone.now()
    for event in Event.objects.all():
        assert now - timedelta(minutes=15) < event.occurred_at <= now
    account.refresh_from_db()
    assert account.last_event_at <= now


def test_a_future_time_left_after_correction_is_refused(client, source):
    response = send(
        client, {"batch": [track(timestamp="2200-01-01T00:00:00Z")], "sentAt": timezone.now().isoformat()},
        key=source.write_key,
    )
    assert response.status_code == 400
    assert "once corrected by sentAt" in response.json()["message"]


# --- nesting -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/track", "/api/token/", "/api/accounts/"])
def test_a_body_nested_ten_thousand_deep_is_a_400_without_credentials(client, path):
    response = client.post(path, nested(10_000), content_type="application/json")
    assert response.status_code in (400, 401)
    assert response.status_code == 400 or path == "/api/accounts/"


def test_properties_nested_past_the_limit_are_refused_naming_the_field(client, source):
    properties = json.loads(nested(900))
    response = send(client, {"batch": [track(properties=properties)]}, key=source.write_key)
    assert response.status_code == 400
    [(index, field)] = problems(response)
    assert (index, field.split(".")[0]) == (0, "properties")
    assert not Event.objects.exists()


def test_properties_one_level_past_the_limit_are_refused(client, source):
    too_deep = json.loads(nested(STORED_DEPTH + 1))
    response = send(client, {"batch": [track(properties=too_deep)]}, key=source.write_key)
    assert response.status_code == 400
    assert response.json()["message"].endswith(f"nested deeper than {STORED_DEPTH} levels")


def test_properties_and_traits_at_the_depth_limit_are_stored_and_their_pages_render(
    client, source, superuser
):
    # Properties and traits may nest STORED_DEPTH levels, themselves counted.
    deepest = json.loads(nested(STORED_DEPTH))
    response = send(
        client, {"batch": [group(deep=deepest["a"]), track(properties=deepest)]}, key=source.write_key
    )
    assert response.status_code == 200, response.content
    account, event = Account.objects.get(), Event.objects.get()
    client.force_login(superuser)
    for url in [
        f"/admin/leads/account/{account.pk}/change/",
        f"/admin/leads/event/{event.pk}/change/",
        f"/accounts/{account.pk}/",
        "/api/events/",
    ]:
        assert client.get(url).status_code == 200, url


def test_the_api_refuses_deep_nesting_with_a_400(client, superuser, account):
    client.force_login(superuser)
    body = b'{"name": "x", "traits": ' + nested(100) + b"}"
    response = client.patch(f"/api/accounts/{account.pk}/", body, content_type="application/json")
    assert response.status_code == 400
    [message] = response.json()["traits"]
    assert message.startswith("traits.a.a.a") and message.endswith("nested deeper than 32 levels")


# --- lone surrogates ---------------------------------------------------------------

SURROGATE = "\\ud800"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (f'{{"writeKey": "{SURROGATE}", "batch": []}}', "writeKey"),
        (f'{{"batch": [{{"type": "group", "messageId": "g", "userId": "u", "groupId": "{SURROGATE}"}}]}}',
         "groupId"),
        ('{"batch": [{"type": "group", "messageId": "g", "userId": "u", "groupId": "a", '
         f'"traits": {{"name": "{SURROGATE}"}}}}]}}', "traits.name"),
        ('{"batch": [{"type": "identify", "messageId": "i", "userId": "u", '
         f'"traits": {{"title": "x{SURROGATE}"}}}}]}}', "traits.title"),
        ('{"batch": [{"type": "track", "messageId": "t", "userId": "u", "event": "e", '
         f'"context": {{"groupId": "{SURROGATE}"}}}}]}}', "context.groupId"),
        (f'{{"batch": [{{"type": "alias", "messageId": "a", "userId": "u", "previousId": "{SURROGATE}"}}]}}',
         "previousId"),
        (f'{{"batch": [{{"type": "page", "messageId": "p", "anonymousId": "{SURROGATE}\\udc00\\udc00"}}]}}',
         "anonymousId"),
        (f'{{"batch": [{{"type": "track", "messageId": "t", "userId": "u", "event": "e", '
         f'"properties": {{"{SURROGATE}": 1}}}}]}}', "properties.\\ud800"),
    ],
)
def test_a_lone_surrogate_is_a_400_naming_the_field(client, source, body, field):
    response = send(client, body.encode(), key=source.write_key)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
    [(_, named)] = problems(response)
    assert named == field


def test_a_lone_surrogate_without_a_write_key_is_a_400(client):
    response = send(client, f'{{"writeKey": "{SURROGATE}", "batch": []}}'.encode())
    assert response.status_code == 400
    assert response.json()["message"].startswith("writeKey: must not contain a lone surrogate")


def test_a_surrogate_pair_is_a_character_and_is_stored(client, source, account):
    body = '{"batch": [' + json.dumps(group()) + ', {"type": "track", "messageId": "t", "userId": "u1", ' \
        '"event": "\\ud83d\\ude00", "timestamp": "' + AT + '"}]}'
    assert send(client, body.encode(), key=source.write_key).status_code == 200
    assert Event.objects.get().name == "\N{GRINNING FACE}"


def test_the_api_refuses_a_lone_surrogate_naming_the_field(client, superuser, account):
    client.force_login(superuser)
    body = f'{{"name": "x{SURROGATE}"}}'.encode()
    response = client.patch(f"/api/accounts/{account.pk}/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["name"] == ["name: must not contain a lone surrogate (\\ud800 to \\udfff unpaired)"]


# --- bodies -----------------------------------------------------------------------


def test_an_empty_body_without_a_key_is_the_401_health_check(client):
    response = client.post("/v1/batch", b"", content_type="application/json")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_an_empty_body_with_a_key_is_a_400(client, source):
    response = send(client, b"", key=source.write_key)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


@pytest.mark.parametrize(
    "body",
    [
        gzip.compress(json.dumps({"batch": [track(1)]}).encode()) + gzip.compress(b'{"batch": []}'),
        gzip.compress(json.dumps({"batch": [track(1)]}).encode()) + b"junk",
    ],
    ids=["two-members", "trailing-junk"],
)
def test_anything_after_the_gzip_stream_is_refused_not_dropped(client, source, body):
    response = send(client, body, key=source.write_key, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert "nothing after it" in response.json()["message"]
    assert not Event.objects.exists()


# --- stored traits that are not an object ---------------------------------------------


@pytest.mark.parametrize("stored", [[1, 2], 7, "text"])
def test_a_group_call_replaces_account_traits_that_are_not_an_object(client, source, account, stored):
    Account.objects.filter(pk=account.pk).update(traits=stored)
    response = send(client, {"batch": [group(plan_seats=3)]}, key=source.write_key)
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.traits == {"plan_seats": 3}


def test_an_identify_call_replaces_person_traits_that_are_not_an_object(client, source, account):
    Person.objects.create(account=account, external_id="u1", traits=[1, 2])
    identify = {"type": "identify", "messageId": "i", "userId": "u1", "timestamp": AT, "traits": {"role": "admin"}}
    assert send(client, {"batch": [identify]}, key=source.write_key).status_code == 200
    assert Person.objects.get(external_id="u1").traits == {"role": "admin"}


# --- the API and the admin keep the same time rule -------------------------------------


@pytest.mark.parametrize("parameter", ["signed_up_after", "signed_up_before"])
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-05:00"])
def test_an_account_filter_time_with_no_utc_equivalent_is_a_400_naming_it(client, manager, parameter, value):
    client.force_login(manager)
    response = client.get("/api/accounts/", {parameter: value})
    assert response.status_code == 400
    assert parameter in response.json()


@pytest.mark.parametrize("parameter", ["occurred_after", "occurred_before"])
def test_an_event_filter_time_with_no_utc_equivalent_is_a_400_naming_it(client, manager, parameter):
    client.force_login(manager)
    response = client.get("/api/events/", {parameter: "0001-01-01T00:00:00+14:00"})
    assert response.status_code == 400
    assert parameter in response.json()


def test_a_filter_may_use_any_time_utc_holds(client, manager):
    client.force_login(manager)
    response = client.get("/api/accounts/", {"signed_up_after": "0001-01-01T00:00:00Z"})
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2200-01-01T00:00:00Z"])
def test_the_api_refuses_a_signup_time_outside_the_range(client, superuser, account, value):
    client.force_login(superuser)
    response = client.patch(f"/api/accounts/{account.pk}/", {"signed_up_at": value}, content_type="application/json")
    assert response.status_code == 400
    assert "signed_up_at" in response.json()


def test_the_admin_account_form_refuses_a_signup_time_outside_the_range(client, superuser, account):
    client.force_login(superuser)
    url = f"/admin/leads/account/{account.pk}/change/"
    page = client.get(url)
    form = page.context["adminform"].form
    data = {
        name: value for name, value in form.initial.items()
        if value is not None and not isinstance(value, (dict, list, datetime))
    }
    data.update({
        "traits": "{}", "signed_up_at_0": "0001-01-01", "signed_up_at_1": "00:00:00",
        "notes-TOTAL_FORMS": "0", "notes-INITIAL_FORMS": "0",
    })
    response = client.post(url, data)
    assert response.status_code == 200  # the form again, with its errors
    errors = response.context["adminform"].form.errors
    assert "signed_up_at" in errors
    account.refresh_from_db()
    assert account.signed_up_at.year > 2000


def test_event_time_validators_hold_for_every_model_path():
    """The model fields carry the rule, so the admin and the API's
    ModelSerializers check it; ingest checks it while parsing."""
    from django.core.exceptions import ValidationError

    event = Event(occurred_at=datetime(1999, 1, 1, tzinfo=UTC))
    with pytest.raises(ValidationError) as raised:
        event.clean_fields(exclude=["account", "person", "name"])
    assert "occurred_at" in raised.value.message_dict
