"""Real peers for the webhook tests: HTTP receivers on 127.0.0.1 that verify
every signature with the standardwebhooks library, a silent receiver that
accepts connections and never answers, and a port nobody listens on."""

import json
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook


class Receiver:
    """Answers webhooks as told and records each one, checked against its secret.

    `answers` is a list of status codes given in turn for each new webhook-id
    (then 200): [500] answers 500 the first time an id comes, 200 after.
    """

    def __init__(self, port=0):
        self.secret = None
        self.answers: list[int] = []
        self.extra_headers: dict[str, str] = {}
        self.received: list[dict] = []  # every request, verified or not
        self.seen = Counter()  # requests per webhook-id
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {key.lower(): value for key, value in self.headers.items()}
                try:
                    payload = Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except Exception:  # recorded: tests assert on it
                    payload, verified = json.loads(body), False
                message_id = headers.get("webhook-id")
                with receiver.arrived:
                    tries = receiver.seen[message_id]
                    receiver.seen[message_id] += 1
                    status = receiver.answers[tries] if tries < len(receiver.answers) else 200
                    receiver.received.append(
                        dict(id=message_id, payload=payload, headers=headers, verified=verified,
                             status=status, body=body)
                    )
                    receiver.arrived.notify_all()
                self.send_response(status)
                for key, value in receiver.extra_headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/pqlsite"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def accepted(self) -> list[dict]:
        """What was answered 2xx: what the receiver kept."""
        return [request for request in self.received if 200 <= request["status"] < 300]

    def duplicates(self) -> int:
        """Webhook-ids accepted more than once (what a receiver would drop)."""
        kept = Counter(request["id"] for request in self.accepted)
        return sum(count - 1 for count in kept.values())

    def wait_for(self, count: int, timeout: float = 10) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.received) >= count, timeout)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class SilentReceiver:
    """Accepts every connection and never answers."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/silent"
        self.held: list[socket.socket] = []
        self.running = True
        self.thread = threading.Thread(target=self.accept, daemon=True)
        self.thread.start()

    def accept(self):
        while self.running:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)

    def stop(self):
        self.running = False
        self.listener.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def receiver():
    peer = Receiver()
    yield peer
    peer.stop()


@pytest.fixture
def make_receiver():
    started = []

    def make(port=0):
        peer = Receiver(port)
        started.append(peer)
        return peer

    yield make
    for peer in started:
        peer.stop()


@pytest.fixture
def silent_receiver():
    peer = SilentReceiver()
    yield peer
    peer.stop()


@pytest.fixture
def closed_port():
    """A port nobody listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    """Receivers listen on 127.0.0.1; short timeouts and retries so tests wait little."""
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOKS_CONNECT_TIMEOUT = 1
    settings.WEBHOOKS_READ_TIMEOUT = 1
    settings.WEBHOOKS_TOTAL_TIMEOUT = 2
    settings.WEBHOOKS_RETRY_SCHEDULE = [0.2, 0.4, 0.8]
    settings.SITE_URL = "https://pql.example.com"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings
