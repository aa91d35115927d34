"""Real peers for the alerts' tests: an SMTP server (aiosmtpd) and a local
HTTP receiver standing in for Slack's incoming-webhook URL, and the Block Kit
checks Slack's posts must pass."""

import json
import socket
import threading
from email import message_from_bytes
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=email_policy)
        self.messages.append((envelope.rcpt_tos, message))
        return "250 Message accepted for delivery"


class SlackReceiver:
    """Stands in for an incoming-webhook URL: keeps each JSON post and
    answers like Slack ("ok"), or with the statuses queued in `answers`."""

    def __init__(self):
        self.posts, self.answers = [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((self.path, self.headers["Content-Type"], json.loads(body)))
                status = receiver.answers.pop(0) if receiver.answers else 200
                reply = b"ok" if status == 200 else b"internal_error"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# Block Kit's limits, as Slack documents them for the blocks used here.
BLOCK_TYPES = {"header", "section", "context", "actions", "divider"}


def check_block_kit(payload: dict) -> None:
    """Raise AssertionError unless `payload` is a valid Block Kit message."""
    assert isinstance(payload.get("text"), str) and payload["text"], "a text fallback for notifications"
    blocks = payload["blocks"]
    assert isinstance(blocks, list) and 0 < len(blocks) <= 50
    for block in blocks:
        kind = block["type"]
        assert kind in BLOCK_TYPES, kind
        if kind == "header":
            assert block["text"]["type"] == "plain_text" and 0 < len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                check_text(block["text"], 3000)
            for field in block.get("fields", []):
                check_text(field, 2000)
            assert len(block.get("fields", [])) <= 10
        elif kind == "context":
            assert 0 < len(block["elements"]) <= 10
            for element in block["elements"]:
                check_text(element, 3000)
        elif kind == "actions":
            assert 0 < len(block["elements"]) <= 25
            for element in block["elements"]:
                assert element["type"] == "button"
                assert element["text"]["type"] == "plain_text" and 0 < len(element["text"]["text"]) <= 75
                assert element["url"].startswith(("https://", "http://")) and len(element["url"]) <= 3000


def check_text(text: dict, limit: int) -> None:
    assert text["type"] in {"plain_text", "mrkdwn"}
    assert isinstance(text["text"], str) and 0 < len(text["text"]) <= limit
