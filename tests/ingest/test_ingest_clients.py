"""The official Segment and RudderStack Python libraries, unmodified and
pointed at a live server with host=, deliver identify, group, track and page
calls that show up as people, accounts and events."""

import gc
import threading

import pytest
import rudderstack.analytics as rudder_analytics
import segment.analytics as analytics
from django.db import connections
from rudderstack.analytics import request as rudder_request
from segment.analytics import request as segment_request

from leads.models import Account, Event, PendingEvent, Person

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def jobs_inline(inline_queues):
    """Rescores run inline in the server thread."""


@pytest.fixture
def server(live_server, monkeypatch):
    """The live server, its request threads closing their database connection
    after each request: the libraries keep their HTTP connections alive, and a
    thread still holding one would keep the test database from being dropped."""
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 0)
    yield live_server
    # The libraries' sessions are closed by now; let their request threads end
    # while the server (and its shared SQLite connection) is still up.
    for thread in threading.enumerate():
        if thread.name.endswith("(process_request_thread)"):
            thread.join(timeout=2)


class Errors:
    """What the library's on_error callback reported, from its upload thread."""

    def __init__(self):
        self.seen = []
        self.lock = threading.Lock()

    def __call__(self, error, batch):
        with self.lock:
            self.seen.append(error)


def shut_down(library, request_module) -> None:
    """Flush and stop the library's upload thread (none in sync mode), and
    close its kept-alive connections, so that the live server's request
    threads end. An error the library reported holds its response, and with
    it a connection: let go of those first."""
    if library.default_client is not None and library.default_client.consumers:
        library.shutdown()
    library.errors.seen.clear()
    gc.collect()
    request_module._session.close()


def send_the_story(library, *, user="u-42", group="acct-42"):
    """A person signs up, joins their company's workspace and uses the product."""
    library.identify(user, {"email": "jo@harborlegal.com", "name": "Jo Park", "title": "Associate"})
    library.group(user, group, {"name": "Harbor Legal LLP", "industry": "legal", "employees": 45,
                                "country": "US", "plan": "trial"})
    for _ in range(3):
        library.track(user, "hour_logged", {"minutes": 30})
    library.page(user, category="Plans", name="Pricing", properties={"path": "/pricing"})


def assert_the_story_is_stored(*, user="u-42", group="acct-42", source="product"):
    account = Account.objects.get(external_id=group)
    assert (account.name, account.industry, account.employee_count, account.country) == (
        "Harbor Legal LLP", "legal", 45, "US"
    )
    person = Person.objects.get(external_id=user)
    assert (person.account, person.email, person.title) == (account, "jo@harborlegal.com", "Associate")
    names = sorted(Event.objects.filter(account=account, person=person, source=source)
                   .values_list("name", flat=True))
    assert names == ["hour_logged"] * 3 + ["pricing_page_viewed"]
    assert not PendingEvent.objects.exists()


@pytest.fixture
def segment(monkeypatch, server, source):
    """segment.analytics configured as its documentation says, with host=."""
    errors = Errors()
    monkeypatch.setattr(analytics, "default_client", None)
    monkeypatch.setattr(analytics, "write_key", source.write_key)
    monkeypatch.setattr(analytics, "host", server.url)
    monkeypatch.setattr(analytics, "on_error", errors)
    monkeypatch.setattr(analytics, "max_retries", 1)
    analytics.errors = errors
    yield analytics
    shut_down(analytics, segment_request)
    del analytics.errors


@pytest.fixture
def rudder(monkeypatch, server, source):
    """rudderstack.analytics configured with dataPlaneUrl (it gzips by default)."""
    errors = Errors()
    monkeypatch.setattr(rudder_analytics, "default_client", None)
    monkeypatch.setattr(rudder_analytics, "write_key", source.write_key)
    monkeypatch.setattr(rudder_analytics, "dataPlaneUrl", server.url, raising=False)
    monkeypatch.setattr(rudder_analytics, "on_error", errors)
    monkeypatch.setattr(rudder_analytics, "max_retries", 1)
    rudder_analytics.errors = errors
    yield rudder_analytics
    shut_down(rudder_analytics, rudder_request)
    del rudder_analytics.errors


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_segments_library_delivers_people_accounts_and_events(segment, gzip, monkeypatch):
    monkeypatch.setattr(segment, "gzip", gzip)
    send_the_story(segment)
    segment.flush()

    assert segment.errors.seen == []
    assert_the_story_is_stored()


def test_segments_library_in_sync_mode(segment, monkeypatch):
    monkeypatch.setattr(segment, "sync_mode", True)
    send_the_story(segment, user="u-7", group="acct-7")
    assert_the_story_is_stored(user="u-7", group="acct-7")


def test_rudderstacks_library_delivers_people_accounts_and_events(rudder):
    assert rudder.gzip is True
    send_the_story(rudder)
    rudder.flush()

    assert rudder.errors.seen == []
    assert_the_story_is_stored()


def test_a_resent_batch_from_the_library_stores_nothing_twice(segment, monkeypatch):
    monkeypatch.setattr(segment, "sync_mode", True)
    send_the_story(segment)
    # What the consumer does after a timeout: the same messages, posted again.
    message = {"type": "track", "userId": "u-42", "event": "invite_sent", "messageId": "fixed-1",
               "timestamp": "2025-03-01T12:00:00.000Z"}
    for _ in range(2):
        segment_request.post(segment.write_key, segment.host, batch=[message])
    assert Event.objects.filter(name="invite_sent").count() == 1


@pytest.mark.parametrize("name", ["segment", "rudder"])
def test_the_libraries_read_a_refusal_as_code_and_message(request, name, monkeypatch):
    library = request.getfixturevalue(name)
    # In sync mode the library raises its APIError here rather than logging
    # it from its upload thread (log records would keep the connection open).
    monkeypatch.setattr(library, "sync_mode", True)
    monkeypatch.setattr(library, "write_key", "not-a-key")
    with pytest.raises(Exception) as raised:
        library.identify("u-1", {"title": "CFO"})

    error = raised.value
    assert (error.status, error.code, error.message) == (401, "unauthorized", "Unknown or inactive write key.")
    assert not Person.objects.exists()
    response = getattr(error, "response", None)
    if response is not None:
        response.close()
    del error, raised
