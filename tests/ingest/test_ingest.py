"""Segment-compatible ingestion over HTTP: write keys, validation, all or
nothing, dedupe per source, events that wait for their account, gzip,
Segment's limits, storage failures and throttling."""

import base64
import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError
from django.urls import URLPattern, URLResolver, get_resolver

from leads.ingest import pending, services
from leads.ingest.messages import BATCH_LIMIT, MESSAGE_LIMIT
from leads.models import Account, Event, LeadStatus, PendingEvent, Person, Source
from scoring import jobs

pytestmark = pytest.mark.django_db

AT = "2025-03-01T12:00:00.000Z"


@pytest.fixture(autouse=True)
def own_queues_and_cache(inline_queues, settings):
    """Rescores run inline; throttle counts start from zero in each test."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"ingest-{uuid.uuid4()}",
        }
    }


@pytest.fixture
def other_source():
    return Source.objects.create(name="Website", slug="website")


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def send(client, payload, *, key=None, path="/v1/batch", gzipped=False, **headers):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if gzipped:
        body = gzip.compress(body)
        headers["HTTP_CONTENT_ENCODING"] = "gzip"
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = basic(key)
    return client.post(path, body, content_type="application/json", **headers)


def batch(*messages, **extra):
    return {"batch": list(messages), **extra}


def identify(user="u1", n=0, **traits):
    return {"type": "identify", "messageId": f"identify-{user}-{n}", "userId": user, "timestamp": AT,
            "traits": traits}


def group(user="u1", group_id="acct_harbor", n=0, **traits):
    return {"type": "group", "messageId": f"group-{user}-{group_id}-{n}", "userId": user,
            "groupId": group_id, "timestamp": AT, "traits": traits}


def track(n, user="u1", event="login", **fields):
    return {"type": "track", "messageId": f"track-{n}", "userId": user, "event": event,
            "timestamp": AT, "properties": {"n": n}, **fields}


def refusal(response) -> dict:
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["success"] is False
    assert set(body) >= {"code", "message"}
    return body


def stored() -> tuple[int, int, int, int]:
    return (
        Account.objects.count(),
        Person.objects.count(),
        Event.objects.count(),
        PendingEvent.objects.count(),
    )


# --- the happy path -------------------------------------------------------


def test_identify_group_track_and_page_become_a_person_an_account_and_events(client, source):
    response = send(
        client,
        batch(
            identify(email="jo@harborlegal.com", name="Jo Park", title="Associate", seats=3),
            group(name="Harbor Legal LLP", industry="legal", employees=45, country="US", plan="trial",
                  tier_hint="gold"),
            track(1, event="hour_logged", properties={"minutes": 30}),
            {"type": "page", "messageId": "page-1", "userId": "u1", "name": "Pricing", "timestamp": AT,
             "properties": {"path": "/pricing"}},
        ),
        key=source.write_key,
    )

    assert response.status_code == 200
    assert response.json() == {"success": True}
    account = Account.objects.get(external_id="acct_harbor")
    assert (account.name, account.industry, account.employee_count, account.country, account.plan) == (
        "Harbor Legal LLP", "legal", 45, "US", "trial"
    )
    assert account.traits == {"tier_hint": "gold"}
    person = Person.objects.get(external_id="u1")
    assert (person.account, person.email, person.name, person.title) == (
        account, "jo@harborlegal.com", "Jo Park", "Associate"
    )
    assert person.traits == {"seats": 3}
    assert person.first_seen_at == person.last_seen_at == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    events = {e.name: e for e in Event.objects.filter(account=account)}
    assert set(events) == {"hour_logged", "pricing_page_viewed"}
    assert events["hour_logged"].properties == {"minutes": 30}
    assert events["pricing_page_viewed"].properties == {"path": "/pricing", "name": "Pricing"}
    assert {(e.person, e.source, e.occurred_at.isoformat()) for e in events.values()} == {
        (person, "product", "2025-03-01T12:00:00+00:00")
    }
    account.refresh_from_db()
    assert account.last_event_at == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_the_write_key_may_come_in_the_body(client, source):
    response = send(client, batch(identify(), writeKey=source.write_key))
    assert response.status_code == 200
    assert Person.objects.filter(external_id="u1").exists()


@pytest.mark.parametrize(
    ("path", "message", "check"),
    [
        ("/v1/identify", {"userId": "u1", "traits": {"title": "CFO"}},
         lambda: Person.objects.get(external_id="u1").title == "CFO"),
        ("/v1/group", {"userId": "u1", "groupId": "g1", "traits": {"name": "Globex"}},
         lambda: Account.objects.get(external_id="g1").people.get().external_id == "u1"),
        ("/v1/track", {"userId": "u1", "event": "invite_sent"},
         lambda: PendingEvent.objects.get().name == "invite_sent"),
        ("/v1/page", {"userId": "u1"}, lambda: PendingEvent.objects.get().name == "page_viewed"),
        ("/v1/screen", {"userId": "u1", "name": "Home"},
         lambda: PendingEvent.objects.get().name == "home_screen_viewed"),
        ("/v1/alias", {"userId": "u1", "previousId": "anon-1"},
         lambda: Person.objects.filter(external_id="u1").exists()),
        ("/v1/track/", {"userId": "u1", "event": "login"}, lambda: PendingEvent.objects.exists()),
    ],
)
def test_each_single_call_endpoint_takes_its_message(client, source, path, message, check):
    response = send(client, {"messageId": "m1", **message}, key=source.write_key, path=path)
    assert response.status_code == 200, response.content
    assert check()


def test_a_get_is_refused_with_405(client, source):
    response = client.get("/v1/batch", HTTP_AUTHORIZATION=basic(source.write_key))
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert refusal(response)["code"] == "method_not_allowed"


def test_tracked_logins_rescore_and_qualify_the_account(
    client, source, ten_logins, django_capture_on_commit_callbacks
):
    send(client, batch(identify(), group()), key=source.write_key)
    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, batch(*(track(n) for n in range(10))), key=source.write_key)

    assert response.status_code == 200
    assert Account.objects.get(external_id="acct_harbor").status == LeadStatus.PQL


# --- write keys -----------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        None,
        basic("not-a-key"),
        "Bearer whatever",
        "Basic %%%",
    ],
    ids=["missing", "unknown", "bearer", "garbled"],
)
def test_a_request_without_a_valid_write_key_is_401(client, source, auth):
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    response = send(client, batch(identify()), **headers)
    assert response.status_code == 401
    assert refusal(response)["code"] == "unauthorized"
    assert stored() == (0, 0, 0, 0)


def test_an_inactive_source_cannot_ingest(client, source):
    Source.objects.filter(pk=source.pk).update(is_active=False)
    response = send(client, batch(identify()), key=source.write_key)
    assert response.status_code == 401
    assert response.json()["message"] == "Unknown or inactive write key."


def test_a_write_key_is_not_an_api_token(client, source):
    response = client.get("/api/schema/", HTTP_AUTHORIZATION=f"Token {source.write_key}")
    assert response.status_code == 401


def test_a_write_key_as_basic_user_authenticates_no_api_request(source):
    """DRF's configured authentication knows no write keys: an endpoint that
    needs a user answers 401/403 to one, whichever way it is sent."""
    from rest_framework.response import Response
    from rest_framework.test import APIRequestFactory
    from rest_framework.views import APIView

    class Probe(APIView):  # the project's default authentication and permissions
        def get(self, request):
            return Response({"user": str(request.user)})

    factory = APIRequestFactory()
    for header in (basic(source.write_key), f"Token {source.write_key}", f"Bearer {source.write_key}"):
        response = Probe.as_view()(factory.get("/api/probe/", HTTP_AUTHORIZATION=header))
        assert response.status_code in (401, 403), header


def api_routes(patterns=None, prefix="/api/"):
    """Every /api/ route without parameters, as the other routes are added."""
    if patterns is None:
        resolver = next(
            p for p in get_resolver().url_patterns
            if isinstance(p, URLResolver) and str(p.pattern) == "api/"
        )
        patterns = resolver.url_patterns
    for pattern in patterns:
        route = str(pattern.pattern)
        if "<" in route or "(?P" in route:
            continue
        if isinstance(pattern, URLResolver):
            yield from api_routes(pattern.url_patterns, prefix + route)
        elif isinstance(pattern, URLPattern):
            yield prefix + route.lstrip("^").rstrip("$")


# Served to anyone by drf-spectacular (SERVE_PERMISSIONS), with or without a key.
PUBLIC_API_ROUTES = {"/api/schema/", "/api/docs/"}


def test_a_write_key_reads_nothing_from_the_api(client, source):
    routes = set(api_routes())
    assert routes, "no /api/ routes found"
    for route in sorted(routes - PUBLIC_API_ROUTES):
        for header in (basic(source.write_key), f"Token {source.write_key}"):
            response = client.get(route, HTTP_AUTHORIZATION=header)
            # 405: a route that reads nothing on GET (e.g. obtaining a token by password).
            assert response.status_code in (401, 403, 405), (route, header, response.status_code)
    # The schema is public: a write key gets what anyone gets, no more.
    anonymous = client.get("/api/schema/")
    with_key = client.get("/api/schema/", HTTP_AUTHORIZATION=basic(source.write_key))
    assert with_key.status_code == anonymous.status_code


# --- validation: a batch is all or nothing --------------------------------


def test_one_bad_message_refuses_the_whole_batch_naming_it(client, source):
    response = send(
        client,
        batch(identify(), group(), track(1), track(2, event=None), track(3)),
        key=source.write_key,
    )
    assert response.status_code == 400
    body = refusal(response)
    assert body["code"] == "invalid_request"
    assert body["message"] == "batch[3].event: required for track"
    assert body["errors"] == [{"index": 3, "field": "event", "message": "required for track"}]
    assert stored() == (0, 0, 0, 0)


def test_several_problems_are_all_listed(client, source):
    response = send(
        client, batch(track(1, userId=None), track(2, timestamp="soon")), key=source.write_key
    )
    body = refusal(response)
    assert body["message"] == (
        "batch[0].userId: userId or anonymousId required for track (and 1 more problem)"
    )
    assert [e["index"] for e in body["errors"]] == [0, 1]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b'{"batch": [', "invalid_json", "body: not valid JSON"),
        (b"", "invalid_json", "body: not valid JSON"),
        (b"\xff\xfe", "invalid_json", "body: not valid JSON"),
        (b"[]", "invalid_request", "body: must be a JSON object"),
        (b'{"batch": 5}', "invalid_request", "batch: must be a list of messages"),
        (b'{"sentAt": "2025-01-01"}', "invalid_request", "batch: required: a list of messages"),
    ],
)
def test_a_malformed_body_is_a_400_saying_what_is_wrong(client, source, body, code, message):
    response = send(client, body, key=source.write_key)
    assert response.status_code == 400
    answer = refusal(response)
    assert answer["code"] == code
    assert answer["message"].startswith(message)


def test_an_empty_batch_is_accepted_and_stores_nothing(client, source):
    assert send(client, batch(), key=source.write_key).status_code == 200
    assert stored() == (0, 0, 0, 0)


# --- dedupe ---------------------------------------------------------------


def test_a_resent_batch_stores_nothing_twice(client, source):
    payload = batch(identify(), group(), *(track(n) for n in range(5)))
    assert send(client, payload, key=source.write_key).status_code == 200
    first = stored()
    assert send(client, payload, key=source.write_key).status_code == 200
    assert stored() == first == (1, 1, 5, 0)


def test_a_message_id_repeated_in_one_batch_is_stored_once(client, source):
    send(client, batch(identify(), group(), track(1), track(1)), key=source.write_key)
    assert Event.objects.count() == 1


def test_dedupe_is_per_source(client, source, other_source):
    send(client, batch(identify(), group()), key=source.write_key)
    for key in (source.write_key, other_source.write_key, other_source.write_key):
        assert send(client, batch(track(1)), key=key).status_code == 200
    assert sorted(Event.objects.values_list("source", flat=True)) == ["product", "website"]


# --- events that wait for their account -----------------------------------


def test_an_event_before_its_persons_account_waits_and_is_attached_when_the_link_arrives(
    client, source
):
    send(client, batch(identify(), track(1), track(2)), key=source.write_key)
    assert Event.objects.count() == 0
    assert sorted(PendingEvent.objects.values_list("message_id", "user_id")) == [
        ("track-1", "u1"), ("track-2", "u1")
    ]

    send(client, batch(group()), key=source.write_key)

    account = Account.objects.get(external_id="acct_harbor")
    person = Person.objects.get(external_id="u1")
    assert sorted(Event.objects.values_list("message_id", "account", "person", "source")) == [
        ("track-1", account.pk, person.pk, "product"),
        ("track-2", account.pk, person.pk, "product"),
    ]
    assert not PendingEvent.objects.exists()
    account.refresh_from_db()
    assert account.last_event_at is not None


def test_events_and_their_link_in_one_batch_are_stored_directly(client, source):
    send(client, batch(track(1), group(), track(2)), key=source.write_key)
    assert Event.objects.count() == 2
    assert not PendingEvent.objects.exists()


def test_a_pending_event_resent_is_kept_once_and_stored_once(client, source):
    waiting = batch(track(1))
    send(client, waiting, key=source.write_key)
    send(client, waiting, key=source.write_key)
    assert PendingEvent.objects.count() == 1

    send(client, batch(group()), key=source.write_key)
    send(client, waiting, key=source.write_key)  # the client never heard back, resends
    assert Event.objects.count() == 1
    assert not PendingEvent.objects.exists()


def test_an_event_already_stored_is_not_kept_as_pending_again(client, source, account):
    Event.objects.create(account=account, name="login", occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
                         source="product", message_id="track-1")
    send(client, batch(track(1, user="stranger")), key=source.write_key)
    assert not PendingEvent.objects.exists()


def test_an_anonymous_visitors_events_follow_them_once_identified(client, source):
    anonymous = {"type": "page", "messageId": "p1", "anonymousId": "anon-7", "name": "Pricing",
                 "timestamp": AT}
    send(client, batch(anonymous), key=source.write_key)
    assert PendingEvent.objects.get().anonymous_id == "anon-7"

    login = {**identify(), "anonymousId": "anon-7"}
    send(client, batch(login, group()), key=source.write_key)

    event = Event.objects.get()
    assert (event.name, event.person.external_id) == ("pricing_page_viewed", "u1")
    assert not PendingEvent.objects.exists()


def test_alias_hands_waiting_events_to_the_new_user_id(client, source):
    send(client, batch(track(1, user="temp-42")), key=source.write_key)
    alias = {"type": "alias", "messageId": "a1", "previousId": "temp-42", "userId": "u1"}
    send(client, batch(alias), key=source.write_key)
    assert PendingEvent.objects.get().user_id == "u1"

    send(client, batch(group()), key=source.write_key)
    assert Event.objects.get().person.external_id == "u1"


def test_pending_events_of_another_source_are_attached_with_their_own_source(
    client, source, other_source
):
    send(client, batch(track(1)), key=other_source.write_key)
    send(client, batch(group()), key=source.write_key)
    assert Event.objects.get().source == "website"


# --- people and accounts --------------------------------------------------


def test_identify_merges_traits_and_keeps_what_it_does_not_send(client, source):
    send(client, batch(identify(email="jo@x.com", title="Associate", seats=3)), key=source.write_key)
    later = {**identify(n=1, role="admin"), "timestamp": "2025-03-02T08:00:00Z"}
    earlier = {**identify(n=2, title="Partner"), "timestamp": "2025-02-01T08:00:00Z"}
    send(client, batch(later, earlier), key=source.write_key)

    person = Person.objects.get()
    assert (person.email, person.title) == ("jo@x.com", "Partner")
    assert person.traits == {"seats": 3, "role": "admin"}
    assert person.first_seen_at.date().isoformat() == "2025-02-01"
    assert person.last_seen_at.date().isoformat() == "2025-03-02"


def test_group_updates_the_account_and_a_later_group_moves_the_person(client, source, account):
    send(client, batch(group(group_id="acct_harbor", employees="120", seats=4)), key=source.write_key)
    account.refresh_from_db()
    assert (account.name, account.employee_count, account.industry) == ("Harbor Legal LLP", 120, "legal")
    assert account.traits == {"seats": 4}

    send(client, batch(group(group_id="acct_other", n=1)), key=source.write_key)
    other = Account.objects.get(external_id="acct_other")
    assert other.name == "acct_other"  # no name yet: the group id stands in
    assert Person.objects.get(external_id="u1").account == other


def test_a_group_without_a_user_upserts_the_account_only(client, source):
    message = {"type": "group", "messageId": "g", "anonymousId": "anon", "groupId": "g1",
               "traits": {"name": "Initech", "createdAt": "2025-01-02T00:00:00Z"}}
    send(client, batch(message), key=source.write_key)
    account = Account.objects.get(external_id="g1")
    assert account.name == "Initech"
    assert account.signed_up_at == datetime(2025, 1, 2, tzinfo=UTC)
    assert not Person.objects.exists()


def test_a_batch_rescores_each_affected_account_once(
    client, source, redis_queues, django_capture_on_commit_callbacks
):
    send(client, batch(identify(), group(), identify("u2"), group("u2", "acct_b")), key=source.write_key)
    jobs.scoring_queue().empty()
    redis_queues.flushdb()

    messages = [identify(n=1, title="CFO"), group(n=1, plan="paid")]
    messages += [track(n, user="u1" if n % 2 else "u2") for n in range(40)]
    with django_capture_on_commit_callbacks(execute=True):
        assert send(client, batch(*messages), key=source.write_key).status_code == 200

    assert jobs.scoring_queue().count == 1
    waiting = redis_queues.zrange(jobs.URGENT, 0, -1) + redis_queues.zrange(jobs.ROUTINE, 0, -1)
    assert sorted(int(i) for i in waiting) == sorted(Account.objects.values_list("pk", flat=True))


def test_a_batch_takes_the_same_number_of_queries_for_10_or_500_events(
    client, source, django_assert_num_queries
):
    send(client, batch(*(identify(f"u{i}") for i in range(50)),
                       *(group(f"u{i}", f"acct_{i % 5}") for i in range(50))), key=source.write_key)

    def queries(count: int, offset: int) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        messages = [track(offset + n, user=f"u{n % 50}") for n in range(count)]
        with CaptureQueriesContext(connection) as captured:
            assert send(client, batch(*messages), key=source.write_key).status_code == 200
        return len(captured)

    queries(10, 5000)  # the first batch reads which events are hand-raises (kept for seconds)
    small, large = queries(10, 0), queries(500, 1000)
    assert small == large
    assert large <= 10
    assert Event.objects.count() == 520


# --- one person under two ids: alias and signing in ----------------------


def alias(previous, user="u1", n=0):
    return {"type": "alias", "messageId": f"alias-{previous}-{n}", "previousId": previous,
            "userId": user, "timestamp": AT}


def visitor(anonymous_id="anon-7", n=0, **traits):
    return {"type": "identify", "messageId": f"visitor-{anonymous_id}-{n}", "anonymousId": anonymous_id,
            "timestamp": AT, "traits": traits}


def test_alias_folds_the_earlier_person_into_the_user(client, source):
    earlier = {**identify("temp-42", email="jo@harborlegal.com", title="Associate", seats=3),
               "timestamp": "2025-02-01T08:00:00Z"}
    send(client, batch(earlier, group("temp-42"), track(1, user="temp-42")), key=source.write_key)
    send(client, batch(identify("u1", name="Jo Park", seats=5, role="admin")), key=source.write_key)
    assert Person.objects.count() == 2

    assert send(client, batch(alias("temp-42")), key=source.write_key).status_code == 200

    person = Person.objects.get()
    assert (person.external_id, person.email, person.name, person.title) == (
        "u1", "jo@harborlegal.com", "Jo Park", "Associate"
    )
    assert person.traits == {"seats": 5, "role": "admin"}  # the user's own values win
    assert person.account.external_id == "acct_harbor"  # the user had none: the earlier one's
    assert person.first_seen_at.date().isoformat() == "2025-02-01"
    assert list(Event.objects.values_list("message_id", "person")) == [("track-1", person.pk)]


def test_alias_keeps_the_users_own_account_and_rescores_both(client, source, monkeypatch):
    send(client, batch(identify("temp-42"), group("temp-42", "acct_old"), track(1, user="temp-42"),
                       identify("u1"), group("u1", "acct_harbor")), key=source.write_key)
    requested = []
    monkeypatch.setattr(services, "request_rescore", lambda ids, **kwargs: requested.extend(ids))

    send(client, batch(alias("temp-42")), key=source.write_key)

    person = Person.objects.get()
    assert person.account.external_id == "acct_harbor"
    event = Event.objects.get()
    # The event stays where it happened; it is now the user's.
    assert (event.account.external_id, event.person) == ("acct_old", person)
    assert sorted(requested) == sorted(Account.objects.values_list("pk", flat=True))


def test_alias_into_a_grouped_user_attaches_the_earlier_ids_waiting_events(client, source):
    send(client, batch(track(1, user="temp-42"), identify("u1"), group("u1")), key=source.write_key)
    assert PendingEvent.objects.get().user_id == "temp-42"

    send(client, batch(alias("temp-42"), track(2, user="temp-42")), key=source.write_key)

    person = Person.objects.get()
    assert person.external_id == "u1"
    assert sorted(Event.objects.values_list("message_id", "account__external_id", "person")) == [
        ("track-1", "acct_harbor", person.pk), ("track-2", "acct_harbor", person.pk)
    ]
    assert not PendingEvent.objects.exists()


def test_alias_resent_after_the_merge_changes_nothing(client, source):
    send(client, batch(identify("temp-42", seats=3), identify("u1"), group("u1")), key=source.write_key)
    for _ in range(2):
        assert send(client, batch(alias("temp-42")), key=source.write_key).status_code == 200
    assert list(Person.objects.values_list("external_id", "traits")) == [("u1", {"seats": 3})]


def test_a_visitors_traits_are_kept_until_they_sign_in(client, source):
    send(client, batch(visitor(email="jo@harborlegal.com", utm_source="ads")), key=source.write_key)
    send(client, batch(visitor(n=1, plan_interest="team")), key=source.write_key)

    visiting = Person.objects.get()
    assert (visiting.external_id, visiting.anonymous_id, visiting.email, visiting.account) == (
        None, "anon-7", "jo@harborlegal.com", None
    )
    assert visiting.traits == {"utm_source": "ads", "plan_interest": "team"}
    assert str(visiting) == "jo@harborlegal.com"

    signed_in = {**identify(name="Jo Park", email="jo@harbor.law"), "anonymousId": "anon-7"}
    send(client, batch(signed_in, group()), key=source.write_key)

    person = Person.objects.get()
    assert (person.external_id, person.anonymous_id, person.name, person.email) == (
        "u1", None, "Jo Park", "jo@harbor.law"
    )
    assert person.traits == {"utm_source": "ads", "plan_interest": "team"}
    assert person.account.external_id == "acct_harbor"


def test_a_visitor_browsing_then_signing_in_brings_traits_and_page_views(client, source):
    pricing = {"type": "page", "messageId": "p1", "anonymousId": "anon-7", "name": "Pricing",
               "timestamp": AT}
    send(client, batch(pricing, visitor(utm_campaign="spring")), key=source.write_key)
    send(client, batch(identify(), group()), key=source.write_key)  # an existing user, elsewhere
    assert Person.objects.count() == 2

    send(client, batch({**identify(n=1), "anonymousId": "anon-7"}), key=source.write_key)

    person = Person.objects.get()
    assert (person.external_id, person.traits) == ("u1", {"utm_campaign": "spring"})
    assert list(Event.objects.values_list("name", "person")) == [("pricing_page_viewed", person.pk)]
    assert not PendingEvent.objects.exists()


def test_alias_of_an_anonymous_id_folds_the_visitor(client, source):
    send(client, batch(visitor(title="CFO"), identify()), key=source.write_key)
    send(client, batch(alias("anon-7")), key=source.write_key)
    assert list(Person.objects.values_list("external_id", "title")) == [("u1", "CFO")]


def test_a_visitor_and_the_user_in_one_batch_become_one_person(client, source):
    signed_in = {**identify(email="jo@harborlegal.com"), "anonymousId": "anon-7"}
    send(client, batch(visitor(utm_source="ads"), signed_in), key=source.write_key)
    person = Person.objects.get()
    assert (person.external_id, person.email, person.traits) == (
        "u1", "jo@harborlegal.com", {"utm_source": "ads"}
    )


def test_signing_in_with_an_anonymous_id_no_visitor_has_folds_no_one(client, source):
    send(client, batch(identify("u2"), visitor("anon-9", seats=2)), key=source.write_key)
    send(client, batch({**identify(), "anonymousId": "anon-7"}), key=source.write_key)
    assert set(Person.objects.values_list("external_id", "anonymous_id")) == {
        (None, "anon-9"), ("u1", None), ("u2", None)
    }


# --- events naming their account (context.groupId) ------------------------


def test_an_event_naming_a_known_account_belongs_to_it_before_the_person_is_linked(
    client, source, account
):
    send(client, batch(identify(), track(1, context={"groupId": "acct_harbor"})), key=source.write_key)

    event = Event.objects.get()
    assert (event.account, event.person.external_id) == (account, "u1")
    assert Person.objects.get().account is None  # naming an account is not a group call
    assert not PendingEvent.objects.exists()


def test_the_account_an_event_names_wins_over_the_persons(client, source, account):
    send(client, batch(identify(), group(group_id="acct_other")), key=source.write_key)
    send(client, batch(track(1, context={"groupId": "acct_harbor"}), track(2)), key=source.write_key)
    assert sorted(Event.objects.values_list("message_id", "account__external_id")) == [
        ("track-1", "acct_harbor"), ("track-2", "acct_other")
    ]


def test_an_event_may_name_an_account_grouped_in_the_same_batch(client, source):
    send(client, batch(track(1, user="u2", context={"groupId": "acct_new"}), group("u1", "acct_new")),
         key=source.write_key)
    assert Event.objects.get().account.external_id == "acct_new"


def test_an_anonymous_page_view_naming_a_known_account_is_stored_on_it(client, source, account):
    page = {"type": "page", "messageId": "p1", "anonymousId": "anon-7", "name": "Pricing",
            "timestamp": AT, "context": {"groupId": "acct_harbor"}}
    send(client, batch(page), key=source.write_key)
    event = Event.objects.get()
    assert (event.account, event.person, event.name) == (account, None, "pricing_page_viewed")


def test_an_unknown_account_in_context_falls_back_to_the_persons_or_waits(client, source, account):
    send(client, batch(track(1, context={"groupId": "acct_nowhere"})), key=source.write_key)
    assert PendingEvent.objects.get().message_id == "track-1"

    send(client, batch(group(), track(2, context={"groupId": "acct_nowhere"})), key=source.write_key)

    assert sorted(Event.objects.values_list("message_id", "account")) == [
        ("track-1", account.pk), ("track-2", account.pk)
    ]
    assert not Account.objects.filter(external_id="acct_nowhere").exists()


def test_naming_accounts_in_context_costs_one_read_per_batch(client, source):
    send(client, batch(*(identify(f"u{i}") for i in range(50)),
                       *(group(f"u{i}", f"acct_{i % 5}") for i in range(50))), key=source.write_key)

    def queries(count: int, offset: int, **fields) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        messages = [track(offset + n, user=f"u{n % 50}", **fields) for n in range(count)]
        with CaptureQueriesContext(connection) as captured:
            assert send(client, batch(*messages), key=source.write_key).status_code == 200
        return len(captured)

    queries(10, 5000)  # the first batch reads which events are hand-raises (kept for seconds)
    plain = queries(10, 0)
    named = [queries(count, offset, context={"groupId": "acct_1"}) for count, offset in ((10, 100), (500, 1000))]
    assert named == [plain + 1, plain + 1]
    named_ids = [f"track-{n}" for n in (*range(100, 110), *range(1000, 1500))]
    assert Event.objects.filter(message_id__in=named_ids, account__external_id="acct_1").count() == 510


# --- pending events expire -----------------------------------------------


def waiting_since(days: int, n: int, *, client, source) -> None:
    send(client, batch(track(n, user=f"never-grouped-{n}")), key=source.write_key)
    PendingEvent.objects.filter(message_id=f"track-{n}").update(
        received_at=datetime.now(UTC) - timedelta(days=days)
    )


def test_pending_events_past_the_retention_are_deleted(client, source, settings):
    settings.PENDING_EVENT_RETENTION_DAYS = 30
    for n, days in enumerate((45, 31, 29, 0)):
        waiting_since(days, n, client=client, source=source)

    assert pending.expire_pending_events() == 2

    assert sorted(PendingEvent.objects.values_list("message_id", flat=True)) == ["track-2", "track-3"]


def test_the_expire_pending_events_command_says_how_many_went(client, source):
    from io import StringIO

    from django.core.management import call_command

    for n, days in enumerate((10, 3)):
        waiting_since(days, n, client=client, source=source)
    out = StringIO()
    call_command("expire_pending_events", "--days", "7", stdout=out)
    assert out.getvalue().strip() == "expired=1 days=7"
    assert PendingEvent.objects.get().message_id == "track-1"


def test_the_scheduler_expires_pending_events_daily(client, source, settings):
    from rq.cron import CronScheduler

    from leads.ingest.jobs import expire_pending_events_job

    scheduler = CronScheduler(connection=jobs.inline_redis())
    scheduler.load_config_from_file("pqlsite.cron")
    [expiry] = [job for job in scheduler.get_jobs() if job.func is expire_pending_events_job]
    assert expiry.interval == 24 * 3600

    settings.PENDING_EVENT_RETENTION_DAYS = 5
    waiting_since(6, 0, client=client, source=source)
    assert expire_pending_events_job() == 1
    assert not PendingEvent.objects.exists()


# --- gzip and limits ------------------------------------------------------


def test_a_gzipped_body_is_accepted(client, source):
    response = send(client, batch(identify(), group(), track(1)), key=source.write_key, gzipped=True)
    assert response.status_code == 200
    assert Event.objects.count() == 1


def test_a_body_that_is_not_gzip_is_a_400(client, source):
    response = send(client, b"not gzip at all", key=source.write_key, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert refusal(response)["message"] == "The body is not valid gzip."


def test_an_unknown_content_encoding_is_a_415(client, source):
    response = send(client, batch(identify()), key=source.write_key, HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 415
    assert refusal(response)["code"] == "unsupported_encoding"


def test_a_small_gzip_that_expands_past_500_kb_is_refused(client, source):
    bomb = gzip.compress(b" " * (BATCH_LIMIT * 20))
    assert len(bomb) < 20_000
    response = send(client, bomb, key=source.write_key, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert refusal(response) | {"message": "-"} == {
        "success": False, "code": "too_large", "message": "-"
    }


def test_a_batch_over_500_kb_is_refused(client, source):
    messages = [track(n, properties={"pad": "x" * 20_000}) for n in range(26)]
    body = json.dumps(batch(*messages)).encode()
    assert len(body) > BATCH_LIMIT
    response = send(client, body, key=source.write_key)
    assert response.status_code == 400
    assert refusal(response) == {
        "success": False, "code": "too_large", "message": "body: over the 500 KB limit per batch"
    }
    assert stored() == (0, 0, 0, 0)


def test_a_batch_just_under_500_kb_is_accepted(client, source):
    messages = [track(n, properties={"pad": "x" * 20_000}) for n in range(24)]
    body = json.dumps(batch(*messages)).encode()
    assert 480_000 < len(body) <= BATCH_LIMIT
    assert send(client, body, key=source.write_key).status_code == 200


def test_a_message_over_32_kb_is_refused_by_its_index(client, source):
    response = send(
        client, batch(track(0), track(1, properties={"pad": "x" * MESSAGE_LIMIT})), key=source.write_key
    )
    assert response.status_code == 400
    body = refusal(response)
    assert body["message"].startswith("batch[1]: over the 32 KB limit per message")
    assert body["errors"][0]["index"] == 1


def test_a_single_call_over_32_kb_is_refused(client, source):
    response = send(
        client, {"messageId": "m", "userId": "u", "event": "x", "properties": {"pad": "x" * MESSAGE_LIMIT}},
        key=source.write_key, path="/v1/track",
    )
    assert response.status_code == 400
    assert refusal(response)["message"] == "body: over the 32 KB limit per message"


def test_more_than_2500_messages_are_refused(client, source):
    messages = [{"type": "track", "messageId": str(n), "userId": "u", "event": "e"} for n in range(2501)]
    response = send(client, batch(*messages), key=source.write_key)
    assert response.status_code == 400
    assert refusal(response)["message"] == "batch: over the limit of 2,500 messages (2,501)"


def test_a_message_id_of_100_characters_is_refused(client, source):
    response = send(client, batch(track(0, messageId="m" * 100)), key=source.write_key)
    assert response.status_code == 400
    assert refusal(response)["message"] == "batch[0].messageId: must be under 100 characters"


# --- failures and throttling ----------------------------------------------


def test_a_storage_failure_is_a_503_the_libraries_retry(client, source, monkeypatch):
    def unavailable(**kwargs):
        raise OperationalError("the database is gone")

    monkeypatch.setattr("leads.ingest.views.ingest_messages", unavailable)
    response = send(client, batch(identify()), key=source.write_key)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert refusal(response)["code"] == "unavailable"


def test_a_failure_midway_stores_nothing_of_the_batch(client, source, monkeypatch):
    def fail(events):
        raise OperationalError("connection lost")

    monkeypatch.setattr(services, "record_events", fail)
    response = send(client, batch(identify(), group(), track(1)), key=source.write_key)
    assert response.status_code == 503
    assert stored() == (0, 0, 0, 0)


def test_a_client_over_the_rate_gets_429_with_retry_after(client, source, other_source, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "ingest": "2/minute"},
    }
    statuses = [send(client, batch(), key=source.write_key).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    response = send(client, batch(identify()), key=source.write_key)
    assert 1 <= int(response["Retry-After"]) <= 60
    assert refusal(response)["code"] == "rate_limited"
    assert not Person.objects.exists()
    # Another write key has its own count.
    assert send(client, batch(), key=other_source.write_key).status_code == 200


def test_the_throttle_counts_in_redis_when_configured(redis_queues, settings):
    from django.core.cache import cache

    from leads.ingest.throttle import seconds_to_wait

    url = redis_queues.connection_pool.connection_kwargs
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://{url['host']}:{url['port']}/{url['db']}",
        }
    }
    cache.clear()
    waits = [seconds_to_wait("source:1", rate="3/hour", now=7200.0 + i) for i in range(4)]
    assert waits == [None, None, None, 3600 - 3]


# --- the admin ------------------------------------------------------------


def test_a_manager_adds_a_source_in_the_admin_and_its_key_ingests(client, manager):
    from django.urls import reverse

    client.force_login(manager)
    response = client.post(
        reverse("admin:leads_source_add"), {"name": "Product", "slug": "product", "is_active": "on"}
    )
    assert response.status_code == 302
    source = Source.objects.get()
    assert len(source.write_key) == 40
    page = client.get(reverse("admin:leads_source_change", args=[source.pk])).content.decode()
    assert source.write_key in page
    assert 'name="slug"' not in page  # fixed once events carry it
    listing = client.get(reverse("admin:leads_source_changelist")).content.decode()
    assert source.write_key not in listing and source.write_key[:6] in listing

    client.logout()
    assert send(client, batch(identify()), key=source.write_key).status_code == 200


def test_pending_events_are_read_only_in_the_admin(client, manager, source):
    from django.urls import reverse

    send(client, batch(track(1)), key=source.write_key)
    pending = PendingEvent.objects.get()
    client.force_login(manager)

    listing = client.get(reverse("admin:leads_pendingevent_changelist"), {"q": "u1"})
    assert listing.status_code == 200
    assert "login" in listing.content.decode()
    page = client.get(reverse("admin:leads_pendingevent_change", args=[pending.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.get(reverse("admin:leads_pendingevent_add")).status_code == 403


def test_events_move_a_known_persons_seen_times_to_the_quarter_hour(client, source):
    send(client, batch(identify(), group()), key=source.write_key)  # seen at 12:00

    def seen():
        person = Person.objects.get()
        return person.first_seen_at.strftime("%d %H:%M"), person.last_seen_at.strftime("%d %H:%M")

    send(client, batch(track(1, timestamp="2025-03-01T12:10:00Z")), key=source.write_key)
    assert seen() == ("01 12:00", "01 12:00")  # within the precision: not written
    send(client, batch(track(2, timestamp="2025-03-01T13:00:00Z")), key=source.write_key)
    assert seen() == ("01 12:00", "01 13:00")
    send(client, batch(track(3, timestamp="2025-02-27T09:00:00Z")), key=source.write_key)
    assert seen() == ("27 09:00", "01 13:00")



def test_seen_times_move_from_a_microsecond_past_the_precision(client, source):
    send(client, batch(identify(), group()), key=source.write_key)  # seen at 12:00

    def seen():
        person = Person.objects.get()
        return person.first_seen_at.isoformat(), person.last_seen_at.isoformat()

    send(client, batch(track(1, timestamp="2025-03-01T12:15:00Z")), key=source.write_key)
    send(client, batch(track(2, timestamp="2025-03-01T12:00:00Z")), key=source.write_key)
    assert seen() == ("2025-03-01T12:00:00+00:00", "2025-03-01T12:00:00+00:00")
    send(client, batch(track(3, timestamp="2025-03-01T12:15:00.000001Z")), key=source.write_key)
    send(client, batch(track(4, timestamp="2025-03-01T11:59:59.999999Z")), key=source.write_key)
    assert seen() == ("2025-03-01T11:59:59.999999+00:00", "2025-03-01T12:15:00.000001+00:00")

# --- what could never be stored is a 400, not a 503 resent for ever --------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"batch": [{"type": "track", "messageId": "m", "userId": "u", "event": "x", "properties": {"a": NaN}}]}',
         "body: not valid JSON (NaN is not a JSON number"),
        (b'{"batch": [{"type": "track", "messageId": "m", "userId": "u", "event": "x", "properties": {"a": 1e400}}]}',
         "body: not valid JSON (number is infinity"),
        (b'{"batch": [{"type": "track", "messageId": "m", "userId": "u", "event": "x", "properties": {"a": "x\\u0000y"}}]}',
         "batch[0].properties.a: must not contain the NUL character"),
    ],
    ids=["nan", "huge", "nul"],
)
def test_values_the_database_cannot_store_are_refused_up_front(client, source, raw, message):
    response = send(client, raw, key=source.write_key)
    assert response.status_code == 400
    assert refusal(response)["message"].startswith(message)


def test_an_escaped_backslash_before_u0000_is_just_text(client, source):
    raw = b'{"batch": [{"type": "track", "messageId": "m", "userId": "u", "event": "x", "properties": {"a": "C:\\\\u0000"}}]}'
    assert send(client, raw, key=source.write_key).status_code == 200
    assert PendingEvent.objects.get().properties == {"a": "C:\\u0000"}


def test_a_value_the_database_refuses_is_a_400_not_a_retry(client, source, monkeypatch):
    from django.db import DataError

    def refuse(**kwargs):
        raise DataError("value too long")

    monkeypatch.setattr("leads.ingest.views.ingest_messages", refuse)
    response = send(client, batch(identify()), key=source.write_key)
    assert response.status_code == 400
    assert refusal(response)["code"] == "invalid_request"


def test_a_long_group_id_names_a_new_account_within_its_column(client, source):
    send(client, batch({**group(group_id="g" * 255), "messageId": "long-group"}), key=source.write_key)
    assert Account.objects.get().name == "g" * 200


# --- races (PostgreSQL) ---------------------------------------------------


def ingest(payload, *, source):
    from leads.ingest.messages import parse_batch

    messages = parse_batch(payload, received_at=datetime.now(UTC), body_size=0)
    return services.ingest_messages(source=source, messages=messages)


def race_a_waiting_event_with_its_link(*, waiting_batch, linking_batch, source, monkeypatch):
    """Request A stores an event as pending and is held before its commit;
    request B, which links that event's person, runs meanwhile."""
    import threading

    from django.db import connection

    stored, release = threading.Event(), threading.Event()
    keep = services.keep_pending

    def keep_and_hold(events, *, source):
        kept = keep(events, source=source)
        stored.set()
        release.wait(10)
        return kept

    def run(batch_payload):
        try:
            ingest(batch_payload, source=source)
        finally:
            connection.close()

    monkeypatch.setattr(services, "keep_pending", keep_and_hold)
    first = threading.Thread(target=run, args=(waiting_batch,))
    first.start()
    assert stored.wait(10)
    monkeypatch.setattr(services, "keep_pending", keep)
    second = threading.Thread(target=run, args=(linking_batch,))
    second.start()
    second.join(0.5)
    waited = second.is_alive()  # B waits for A's commit
    release.set()
    first.join(10)
    second.join(10)
    return waited


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_event_kept_while_its_person_is_linked_concurrently_is_attached(source, monkeypatch):
    ingest(batch(identify()), source=source)

    waited = race_a_waiting_event_with_its_link(
        waiting_batch=batch(track(1)), linking_batch=batch(group()), source=source,
        monkeypatch=monkeypatch,
    )

    assert waited
    assert Event.objects.count() == 1
    assert not PendingEvent.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_anonymous_event_kept_while_its_visitor_is_identified_concurrently_follows(
    source, monkeypatch
):
    anonymous = {"type": "page", "messageId": "p1", "anonymousId": "anon-7", "timestamp": AT}
    login = {**identify(), "anonymousId": "anon-7"}

    waited = race_a_waiting_event_with_its_link(
        waiting_batch=batch(anonymous), linking_batch=batch(login, group()), source=source,
        monkeypatch=monkeypatch,
    )

    assert waited
    assert Event.objects.get().person.external_id == "u1"
    assert not PendingEvent.objects.exists()
