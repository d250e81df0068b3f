"""Standard Webhooks 1.0 signing with a subscription's own secret.

A secret is `whsec_` + base64 of 32 random bytes; the HMAC-SHA256 key is the decoded bytes (not the
text, unlike the suite's internal event signatures in crm_shared.signing, which share one configured
secret); the HMAC and the headers are crm_shared.signing's. The signature covers
`{webhook-id}.{webhook-timestamp}.{body}`; `webhook-signature` holds one `v1,<base64>` per valid secret,
space-separated, so a receiver holding either secret of a rotation verifies (the reference library,
`standardwebhooks`, accepts any one that matches)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence

from crm_shared import signing

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    return signing.sign_with_key(_key(secret), msg_id, timestamp, body)


def headers(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of a delivery, signed with every secret given (the current one first)."""
    return signing.headers([_key(s) for s in secrets_], msg_id, timestamp, body)
