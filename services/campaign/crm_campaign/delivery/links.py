"""Signed links put in messages: one-click unsubscribe and the preference page, used without a login.

A token is `base64url(payload).base64url(HMAC-SHA256(secret, purpose + "." + payload))`: whoever holds it
may act for that one customer, for that one purpose, until it expires; anything else (a changed byte,
another purpose, an expired link) is refused. The purpose is in the MAC, so an unsubscribe token cannot
be replayed as a preference-page token. Several secrets verify (the first signs): a secret can be
rotated without breaking links already sent."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from typing import Literal

import msgspec

Purpose = Literal["unsubscribe", "preferences"]


class LinkClaims(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """What a link lets its holder do: act for `customer`, about `channel`, until `expires` (epoch s).
    `campaign` says which campaign's message carried it (optional). Encoded as a JSON array: links stay
    short enough for an SMS."""

    customer: uuid.UUID
    channel: str
    expires: int
    campaign: uuid.UUID | None = None


class InvalidLink(Exception):
    """The token is malformed, forged, for another purpose, or expired."""


_encode = msgspec.json.Encoder()
_decode = msgspec.json.Decoder(LinkClaims)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, secrets: list[str], *, ttl_seconds: int) -> None:
        if not secrets:
            raise ValueError("at least one link secret is needed")
        self._keys = [s.encode() for s in secrets]
        self.ttl_seconds = ttl_seconds

    def _mac(self, key: bytes, purpose: Purpose, body: str) -> str:
        return _b64(hmac.new(key, f"{purpose}.{body}".encode(), hashlib.sha256).digest())

    def sign(
        self,
        purpose: Purpose,
        *,
        customer: uuid.UUID,
        channel: str,
        campaign: uuid.UUID | None = None,
        now: float | None = None,
    ) -> str:
        expires = int((now if now is not None else time.time()) + self.ttl_seconds)
        claims = LinkClaims(customer=customer, channel=channel, expires=expires, campaign=campaign)
        body = _b64(_encode.encode(claims))
        return f"{body}.{self._mac(self._keys[0], purpose, body)}"

    def verify(self, purpose: Purpose, token: str, *, now: float | None = None) -> LinkClaims:
        body, _, mac = token.partition(".")
        if not body or not mac or len(token) > 1024:
            raise InvalidLink("malformed")
        if not any(hmac.compare_digest(mac, self._mac(key, purpose, body)) for key in self._keys):
            raise InvalidLink("bad signature")
        try:
            claims = _decode.decode(_unb64(body))
        except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
            raise InvalidLink("malformed") from exc
        if claims.expires < (now if now is not None else time.time()):
            raise InvalidLink("expired")
        return claims
