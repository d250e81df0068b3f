"""Standard Webhooks 1.0 signatures: HMAC-SHA256 over `id.timestamp.body`, base64, prefixed `v1,`.

The suite's internal events are signed with the text of one configured secret (`sign`); the webhooks
service signs partner deliveries with each subscription's own key bytes (`sign_with_key`, `headers`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence

TOLERANCE_SECONDS = 300


def sign_with_key(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    return sign_with_key(secret.encode(), msg_id, timestamp, body)


def headers(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers, one space-separated `v1,` signature per key (during a rotation, old and new)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign_with_key(key, msg_id, timestamp, body) for key in keys),
    }


def signature_headers(secret: str, msg_id: str, body: bytes) -> dict[str, str]:
    return headers([secret.encode()], msg_id, int(time.time()), body)


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None) -> bool:
    """True when one of the space-separated signatures matches and the timestamp is fresh."""
    msg_id, ts, sigs = (
        headers.get("webhook-id"),
        headers.get("webhook-timestamp"),
        headers.get("webhook-signature"),
    )
    if not (msg_id and ts and sigs):
        return False
    try:
        stamp = int(ts)
    except ValueError:
        return False
    if abs((now or time.time()) - stamp) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, msg_id, stamp, body)
    return any(hmac.compare_digest(expected, s) for s in sigs.split())
