"""Segment's HTTP tracking API: POST /v1/batch, /v1/import (the same for
historical messages, Segment's endpoint for backfills) and the single calls
(/v1/track, /v1/identify, ...), authenticated by a source's write key.

Success is a plain 200 {"success": true}, sent once the request is committed.
Errors are JSON {"success": false, "code", "message"}, as Segment's and
RudderStack's libraries read them: 400 for what resending cannot fix (they
drop it), 429 and 503 with Retry-After for what it can (they retry).
"""

import base64
import binascii
import logging
import random
import time
import zlib

from django.db import DatabaseError, DataError, InterfaceError, OperationalError, connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from .. import client_json
from ..models import Source
from . import throttle
from .messages import BATCH_LIMIT, MESSAGE_LIMIT, InvalidPayload, parse_batch, parse_call
from .services import ingest_messages

log = logging.getLogger(__name__)

# A gzipped body may be a little larger than what it holds (headers, incompressible data).
GZIP_OVERHEAD = 1024
# Paths whose body is a batch: import takes historical messages, with the same limits.
BATCH_CALLS = frozenset({"batch", "import"})
# Seconds a client should wait after a storage failure before it resends.
RETRY_AFTER_UNAVAILABLE = 5


class Refusal(Exception):
    """A request answered with an error; nothing of it was stored."""

    def __init__(self, status: int, code: str, message: str, *, headers=None, errors=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.errors = errors

    def response(self) -> JsonResponse:
        body = {"success": False, "code": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        response = JsonResponse(body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


@csrf_exempt
def receive(request, call: str):
    """One endpoint for all eight paths; `call` is batch, import, track, identify, ..."""
    try:
        if request.method != "POST":
            raise Refusal(405, "method_not_allowed", "Use POST.", headers={"Allow": "POST"})
        source = store(request, call)
    except Refusal as refusal:
        return refusal.response()
    except DataError:
        # A value the database refuses: resending would fail again, so a 400.
        log.exception("Ingestion refused a request the database cannot store")
        return Refusal(400, "invalid_request", "A value in the request cannot be stored.").response()
    except (DatabaseError, InterfaceError):
        # Unreachable, or the connection dropped mid-batch: nothing committed.
        log.exception("Ingestion failed to store a request; the client will retry")
        return Refusal(
            503, "unavailable", "Storage is unavailable; retry later.",
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
        ).response()
    log.debug("Ingested a %s request from source %s", call, source.slug)
    return JsonResponse({"success": True})


def store(request, call: str) -> Source:
    """Authenticate, throttle, validate and store; raises Refusal."""
    received_at = timezone.now()
    batch = call in BATCH_CALLS
    limit = BATCH_LIMIT if batch else MESSAGE_LIMIT
    body = read_body(request, limit=limit)
    key = basic_user(request)
    # Without a key anywhere, an empty body is the documented health check's 401.
    source = authenticate(key) if key or not body.strip() else None
    payload = parse_json(body)
    if source is None:
        given = payload.get("writeKey") if isinstance(payload, dict) else None
        source = authenticate(given if isinstance(given, str) else "")
    try:
        if batch:
            messages = parse_batch(
                payload, received_at=received_at, body_size=len(body), correct_clocks=call != "import"
            )
        else:
            messages = [parse_call(payload, call=call, received_at=received_at)]
    except InvalidPayload as invalid:
        raise Refusal(400, invalid.code, problems_message(invalid), errors=[
            problem.as_dict() for problem in invalid.problems[:100]
        ]) from None
    if messages:
        store_retrying_conflicts(source, messages)
    return source


# Deadlock and serialization failure: PostgreSQL rolled the batch back whole.
CONFLICTS = {"40P01", "40001"}
CONFLICT_ATTEMPTS = 3


def store_retrying_conflicts(source: Source, messages) -> None:
    """Concurrent batches for the same people and accounts can deadlock; the
    loser's batch was rolled back whole, so storing it again is safe and the
    client need not see a 503 for it."""
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            ingest_messages(source=source, messages=messages)
            return
        except OperationalError as error:
            if attempt == CONFLICT_ATTEMPTS or getattr(error.__cause__, "sqlstate", None) not in CONFLICTS:
                raise
            log.warning("Ingestion conflicted with another batch (attempt %d); storing it again", attempt)
            time.sleep(random.uniform(0, 0.02 * attempt))


def problems_message(invalid: InvalidPayload) -> str:
    first, more = str(invalid.problems[0]), len(invalid.problems) - 1
    return f"{first} (and {more} more problem{'s' if more > 1 else ''})" if more else first


def read_body(request, *, limit: int) -> bytes:
    """The request body, gunzipped when Content-Encoding says so, refused
    when over `limit` bytes (before or after decompression)."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise Refusal(415, "unsupported_encoding", "Content-Encoding must be gzip or absent.")
    gzipped = encoding == "gzip"
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Refusal(400, "invalid_request", "Content-Length is not a number.") from None
    if length > limit + (GZIP_OVERHEAD if gzipped else 0):
        raise too_large(limit)
    body = request.body
    if gzipped:
        body = gunzip(body, limit=limit)
    if len(body) > limit:
        raise too_large(limit)
    return body


def gunzip(data: bytes, *, limit: int) -> bytes:
    """Decompress at most limit + 1 bytes, so a small body cannot expand into
    a large one in memory."""
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = decompressor.decompress(data, limit + 1)
    except zlib.error:
        raise Refusal(400, "invalid_request", "The body is not valid gzip.") from None
    if len(body) > limit:
        raise too_large(limit)
    if not decompressor.eof:
        raise Refusal(400, "invalid_request", "The gzip body is truncated.")
    if decompressor.unused_data:
        # A second member or junk: refused rather than dropped unseen.
        raise Refusal(400, "invalid_request", "The gzip body must be one gzip stream with nothing after it.")
    return body


def too_large(limit: int) -> Refusal:
    what = "batch" if limit == BATCH_LIMIT else "message"
    return Refusal(400, "too_large", f"body: over the {limit // 1024} KB limit per {what}")


def parse_json(body: bytes):
    """The body as JSON, within the bounds of leads.client_json (NUL, lone
    surrogates, NaN, Infinity): what PostgreSQL cannot store or a page
    cannot render must not get a 503 the libraries resend."""
    try:
        # Depth is checked where it matters, on what is stored (leads.ingest.messages).
        return client_json.loads(body, max_depth=None)
    except client_json.RefusedJSON as refused:
        where = refused.path
        if where[:1] == ["batch"] and len(where) > 1 and isinstance(where[1], int):
            index, field = where[1], client_json.path(where[2:]) if len(where) > 2 else ""
        else:
            index, field = None, refused.field
        raise Refusal(400, "invalid_json", str(refused), errors=[
            {"index": index, "field": field, "message": refused.message}
        ]) from None


def basic_user(request) -> str:
    """The write key sent as the Basic user name (the password is empty)."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[0]


def active_source(write_key: str) -> Source | None:
    """The active source with this write key (its id and slug), or None.

    Every request asks, so the query is written out and read by a plain
    cursor: compiling the ORM's .get() cost twice the query itself, and a
    raw queryset's machinery as much again.
    """
    table = connection.ops.quote_name(Source._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, slug FROM {table} WHERE write_key = %s AND is_active",  # noqa: S608
            [write_key],
        )
        found = cursor.fetchone()
    # As the raw queryset made it: the other fields deferred, no new write key drawn.
    return None if found is None else Source.from_db(connection.alias, ["id", "slug"], found)


def authenticate(write_key: str) -> Source:
    """The active source with this write key, throttled; raises Refusal."""
    if not write_key:
        raise Refusal(
            401, "unauthorized",
            "A write key is required: as the Basic user name or as writeKey in the body.",
            headers={"WWW-Authenticate": 'Basic realm="ingest"'},
        )
    source = active_source(write_key)
    if source is None:
        raise Refusal(
            401, "unauthorized", "Unknown or inactive write key.",
            headers={"WWW-Authenticate": 'Basic realm="ingest"'},
        )
    wait = throttle.seconds_to_wait(f"source:{source.pk}")
    if wait is not None:
        raise Refusal(
            429, "rate_limited", f"Too many requests for this write key; retry in {wait} s.",
            headers={"Retry-After": str(wait)},
        )
    return source
