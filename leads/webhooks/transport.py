"""One HTTP POST to a vetted target, with hard time limits.

The connection goes to the address that was checked (targets.check_target),
never to a fresh lookup of the name, so DNS cannot swap in an internal
address between the check and the send. TLS still verifies the certificate
against the host name. Redirects are not followed (a redirect could point
anywhere). A connect timeout, a read timeout per socket read, and a total
deadline after which the socket is shut: a receiver dripping bytes cannot
hold a worker either.
"""

import contextlib
import email.utils
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from .targets import Target

USER_AGENT = "pqlsite-webhooks/1"
# What is kept of a response body, for the attempt log (never parsed).
BODY_KEPT = 300


@dataclass(frozen=True)
class Response:
    status: int | None  # None: no HTTP answer (timeout, refused, TLS, reset)
    error: str
    duration_ms: int
    retry_after: float | None = None  # seconds, when the receiver said
    timed_out: bool = False


class PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, *, address, connect_timeout, read_timeout):
        super().__init__(host, port, timeout=read_timeout)
        self.address, self.connect_timeout, self.read_timeout = address, connect_timeout, read_timeout

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.connect_timeout)
        self.sock.settimeout(self.read_timeout)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, address, connect_timeout, read_timeout):
        self.tls = ssl.create_default_context()  # verifies the certificate and the host name
        super().__init__(host, port, timeout=read_timeout, context=self.tls)
        self.address, self.connect_timeout, self.read_timeout = address, connect_timeout, read_timeout

    def connect(self):
        raw = socket.create_connection((self.address, self.port), self.connect_timeout)
        raw.settimeout(self.read_timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    connect_timeout: float,
    read_timeout: float,
    total_timeout: float,
) -> Response:
    """POST body to the target's first address; never raises for the network."""
    kind = PinnedHTTPSConnection if target.scheme == "https" else PinnedHTTPConnection
    connection = kind(
        target.host,
        target.port,
        address=target.addresses[0],
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    expired = threading.Event()

    def cut_off():
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(total_timeout, cut_off)
    watchdog.daemon = True
    started = time.perf_counter()

    def took() -> int:
        return int((time.perf_counter() - started) * 1000)

    watchdog.start()
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={
                **headers,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Connection": "close",
            },
        )
        response = connection.getresponse()
        kept = response.read(BODY_KEPT)
        status = response.status
        return Response(
            status=status,
            error="" if 200 <= status < 300 else http_error(status, response.reason, kept),
            duration_ms=took(),
            retry_after=retry_after_seconds(response.getheader("Retry-After")),
        )
    except TimeoutError:
        return Response(None, f"Timed out after {took()} ms", took(), timed_out=True)
    except ssl.SSLError as error:
        return Response(None, f"TLS error: {error.reason or error}", took())
    except (OSError, http.client.HTTPException) as error:
        if expired.is_set():
            return Response(None, f"No full answer within {total_timeout:g} s", took(), timed_out=True)
        return Response(None, f"Connection failed: {describe(error)}", took())
    finally:
        watchdog.cancel()
        connection.close()


def http_error(status: int, reason: str, body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip().replace("\n", " ")
    return f"HTTP {status} {reason}".strip() + (f": {text}" if text else "")


def describe(error: Exception) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, http.client.RemoteDisconnected):
        return "closed without answering"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return type(error).__name__
