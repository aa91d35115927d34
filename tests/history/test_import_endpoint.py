"""/v1/import, Segment's endpoint for historical batches: accepted with their
own times, and refused exactly as /v1/batch refuses the same body."""

import base64
import json

import pytest

from leads.ingest.messages import BATCH_LIMIT
from leads.models import Event, Source

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def queues(inline_queues):
    """Rescores run inline."""


@pytest.fixture
def source():
    return Source.objects.create(name="Product", slug="product")


def post(client, path, body, *, key):
    body = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{key}:".encode()).decode()} if key else {}
    return client.post(path, body, content_type="application/json", **headers)


def history(n=3, *, at="2024-01-15T09:00:00Z", **extra):
    messages = [{"type": "group", "messageId": "g1", "userId": "u1", "groupId": "acct_harbor", "timestamp": at}]
    messages += [{"type": "track", "messageId": f"t{i}", "userId": "u1", "event": "login", "timestamp": at}
                 for i in range(n)]
    return {"batch": messages, **extra}


def test_a_historical_batch_is_stored_with_its_own_times(client, source):
    response = post(client, "/v1/import", history(sentAt="2026-01-01T00:00:00Z"), key=source.write_key)

    assert (response.status_code, response.json()) == (200, {"success": True})
    assert Event.objects.count() == 3
    assert {event.occurred_at.isoformat() for event in Event.objects.all()} == {"2024-01-15T09:00:00+00:00"}
    # Resent: stored once, as /v1/batch does.
    assert post(client, "/v1/import/", history(), key=source.write_key).status_code == 200
    assert Event.objects.count() == 3


BAD_BODIES = {
    "not json": b"{batch",
    "no batch": {"messages": []},
    "batch not a list": {"batch": {}},
    "bad time": {"batch": [{"type": "track", "messageId": "t", "userId": "u", "event": "e", "timestamp": "soon"}]},
    "missing user": {"batch": [{"type": "track", "messageId": "t", "event": "e"}]},
    "name too long": {"batch": [{"type": "track", "messageId": "t", "userId": "u", "event": "e" * 201}]},
    "properties not an object": {"batch": [
        {"type": "track", "messageId": "t", "userId": "u", "event": "e", "properties": "x"}]},
    "too many messages": {"batch": [{"type": "track", "messageId": f"t{i}", "userId": "u", "event": "e"}
                                    for i in range(2501)]},
    "over the batch limit": {"batch": [], "pad": "x" * BATCH_LIMIT},
}


@pytest.mark.parametrize("name", BAD_BODIES)
def test_a_bad_batch_is_refused_as_v1_batch_refuses_it(client, source, name):
    batch = post(client, "/v1/batch", BAD_BODIES[name], key=source.write_key)
    imported = post(client, "/v1/import", BAD_BODIES[name], key=source.write_key)

    assert batch.status_code == 400
    assert (imported.status_code, imported.json()) == (batch.status_code, batch.json())
    assert not Event.objects.exists()


def test_without_a_write_key_it_is_refused_as_v1_batch_refuses_it(client, source):
    batch, imported = (post(client, path, history(), key=None) for path in ("/v1/batch", "/v1/import"))
    assert imported.status_code == batch.status_code == 401
    assert imported.json() == batch.json()
    assert imported["WWW-Authenticate"] == batch["WWW-Authenticate"]
