"""Subscriptions' signing secrets encrypted at rest (Fernet: AES-128-CBC and HMAC-SHA256, authenticated).

The service must read a secret back to sign with it, so it cannot hash it: it encrypts it with keys from
its settings (WEBHOOKS_SECRET_KEYS, a list: the first encrypts, every one decrypts, so keys rotate: put a
new key first, restart, `reseal` rewrites the stored secrets under it, then drop the old key). Each key is
any configured secret of at least 32 bytes (like the suite's others); the Fernet key is derived from it
with HKDF-SHA256, so `make run` and the deploys generate it like any other secret.

A database copy or backup without the keys holds no usable signing secret."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"crm-webhooks: subscription secrets at rest"


def _derived(key: str) -> bytes:
    return base64.urlsafe_b64encode(
        HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(key.encode())
    )


def key_id(key: str) -> str:
    """A short public name of a key (a hash of its derived form), stored before each sealed secret, so the
    secrets sealed with an older key can be found and sealed again under the first."""
    return hashlib.sha256(_derived(key)).hexdigest()[:8]


class SecretBox:
    """Seals with the first key (`<key id>:<Fernet token>`), opens with any."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("no key to encrypt signing secrets with")
        self._box = MultiFernet([Fernet(_derived(k)) for k in keys])
        self.current = key_id(keys[0])

    def seal(self, secret: str) -> str:
        return f"{self.current}:{self._box.encrypt(secret.encode()).decode()}"

    def open(self, sealed: str) -> str:
        try:
            return self._box.decrypt(sealed.partition(":")[2].encode()).decode()
        except InvalidToken:
            raise UnknownKey() from None

    def reseal(self, sealed: str) -> str:
        """The same secret sealed under the first key (for a key rotation)."""
        try:
            return f"{self.current}:{self._box.rotate(sealed.partition(':')[2].encode()).decode()}"
        except InvalidToken:
            raise UnknownKey() from None


class UnknownKey(Exception):
    def __init__(self) -> None:
        super().__init__("a signing secret was sealed with a key that is not in WEBHOOKS_SECRET_KEYS")
