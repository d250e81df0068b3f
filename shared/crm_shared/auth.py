"""Who is calling. The gateway authenticates API keys and JWTs, strips any client-sent copies of
these headers, and forwards the principal to the services in them; services trust only the gateway
(deploy them on a private network)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from .errors import Forbidden

CLIENT_ID_HEADER = "x-crm-client-id"
CLIENT_KIND_HEADER = "x-crm-client-kind"
SCOPES_HEADER = "x-crm-scopes"
PRINCIPAL_HEADERS = (CLIENT_ID_HEADER, CLIENT_KIND_HEADER, SCOPES_HEADER)
API_KEY_PREFIX = "crm"


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str
    kind: str  # "partner" (API key), "user" (JWT), or "anonymous" (direct call inside the network)
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        if self.kind != "anonymous" and scope not in self.scopes:
            raise Forbidden(f"this call needs the scope '{scope}'")


def principal_from(request: Request) -> Principal:
    headers = request.headers
    scopes = headers.get(SCOPES_HEADER, "")
    return Principal(
        client_id=headers.get(CLIENT_ID_HEADER) or "anonymous",
        kind=headers.get(CLIENT_KIND_HEADER) or "anonymous",
        scopes=frozenset(s for s in scopes.split() if s),
    )


PrincipalDep = Annotated[Principal, Depends(principal_from)]


# API keys look like `crm_<key id>_<secret>`; only the SHA-256 of the secret is stored.
def generate_api_key() -> tuple[str, str, str]:
    """Return (full key to hand out once, key id, stored hash)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(24)
    return f"{API_KEY_PREFIX}_{key_id}_{secret}", key_id, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_api_key(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
