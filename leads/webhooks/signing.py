"""Standard Webhooks signatures: webhook-id, webhook-timestamp and
webhook-signature (v1, HMAC-SHA256 of "id.timestamp.body")."""

from datetime import datetime

from standardwebhooks import Webhook


def signed_headers(
    *, secrets: list[str], message_id: str, body: str, at: datetime
) -> dict[str, str]:
    """The headers for one attempt. The timestamp is the attempt's own (a
    receiver refuses one older than a few minutes); the id never changes.
    During a rotation both secrets sign, space-separated, per the spec."""
    signatures = " ".join(
        Webhook(secret).sign(msg_id=message_id, timestamp=at, data=body) for secret in secrets
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }
