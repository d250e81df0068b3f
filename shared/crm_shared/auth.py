"""Who is calling, end to end. The gateway authenticates API keys and user JWTs, then hands the
principal to the service it routes to as a short-lived signed token in `X-CRM-Principal` (HS256,
audience = that service, issuer = the gateway). Services verify it on every `/api/` call and trust
nothing else a client could have sent; a service calling another mints its own token the same way.
Keys are a list: the first signs, every one verifies, so a key can be rotated without downtime."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import jwt

PRINCIPAL_HEADER = "x-crm-principal"
# Every x-crm-* header a client sends is dropped by the gateway: the prefix is the project's own.
INTERNAL_HEADER_PREFIX = "x-crm-"
API_KEY_PREFIX = "crm"
TOKEN_ALGORITHM = "HS256"
TOKEN_LIFETIME_SECONDS = 120
MIN_SECRET_BYTES = 32  # RFC 7518 3.2: at least the hash output size for HS256

PrincipalKind = Literal["partner", "user", "service"]


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str
    kind: PrincipalKind  # "partner" (API key), "user" (JWT), "service" (another part of the suite)
    scopes: frozenset[str]
    roles: tuple[str, ...] = ()  # for the audit log: the JWT roles, "partner" or "service"

    @property
    def key(self) -> str:
        """Kind and id: a user whose `sub` equals a partner's client id is still someone else."""
        return f"{self.kind}:{self.client_id}"

    @property
    def is_partner(self) -> bool:
        return self.kind == "partner"

    def has(self, scope: str) -> bool:
        return scope in self.scopes


class InvalidPrincipalToken(Exception):
    """The principal token is missing, forged, expired or meant for another service."""


class PrincipalTokens:
    """Mint and verify principal tokens. Verified tokens are cached until they expire, so a service
    checks a signature once per client and minute, not once per request."""

    def __init__(self, keys: Sequence[str], *, issuer: str, cache_size: int = 10_000) -> None:
        if not keys:
            raise ValueError("at least one principal key is needed")
        self._keys = list(keys)
        self.issuer = issuer
        self._cache: dict[tuple[str, str], tuple[Principal, float]] = {}  # (token, audience) ->
        self._cache_size = cache_size

    def mint(
        self, principal: Principal, audience: str, *, now: float | None = None, lifetime: int = TOKEN_LIFETIME_SECONDS
    ) -> str:
        """A new token for `audience` (callers that send many keep it: see `MintedTokens`)."""
        now = time.time() if now is None else now
        expires = int(now) + lifetime
        claims = {
            "iss": self.issuer,
            "aud": audience,
            "sub": principal.client_id,
            "knd": principal.kind,
            "scp": " ".join(sorted(principal.scopes)),
            "rol": list(principal.roles),
            "iat": int(now),
            "exp": expires,
        }
        return jwt.encode(claims, self._keys[0], algorithm=TOKEN_ALGORITHM)

    def verify(self, token: str, audience: str, *, now: float | None = None) -> Principal:
        now = time.time() if now is None else now
        cached = self._cache.get((token, audience))
        if cached is not None:
            if now < cached[1]:
                return cached[0]
            del self._cache[(token, audience)]
        claims = None
        for key in self._keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[TOKEN_ALGORITHM],
                    audience=audience,
                    options={"require": ["exp", "iat", "aud", "iss", "sub"]},
                )
                break
            except jwt.InvalidSignatureError:
                continue  # maybe signed with another accepted key
            except jwt.InvalidTokenError as exc:
                raise InvalidPrincipalToken(str(exc)) from exc
        if claims is None:
            raise InvalidPrincipalToken("signature verification failed")
        kind = claims.get("knd")
        scopes, roles = claims.get("scp"), claims.get("rol", [])
        if kind not in ("partner", "user", "service") or not isinstance(scopes, str) or not isinstance(roles, list):
            raise InvalidPrincipalToken("malformed principal claims")
        principal = Principal(str(claims["sub"]), kind, frozenset(scopes.split()), tuple(str(r) for r in roles))
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[(token, audience)] = (principal, float(claims["exp"]))
        return principal


class MintedTokens:
    """One principal's tokens, per audience, reused while they have over half their life left: the
    gateway keeps one per authenticated caller, a service one per client of another service."""

    __slots__ = ("_by_audience", "principal")

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self._by_audience: dict[str, tuple[str, float]] = {}

    def token_for(self, audience: str, tokens: PrincipalTokens) -> str:
        now = time.time()
        held = self._by_audience.get(audience)
        if held is not None and held[1] > now:
            return held[0]
        token = tokens.mint(self.principal, audience, now=now)
        self._by_audience[audience] = (token, now + TOKEN_LIFETIME_SECONDS / 2)
        return token


def check_secret(name: str, value: str | None) -> str:
    """A configured secret, or a clear startup error: no part of the suite has a default secret."""
    if not value:
        raise ValueError(f"{name} is not set: every secret must be configured (`make run` generates its own)")
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"{name} must be at least {MIN_SECRET_BYTES} bytes")
    return value


def new_secret() -> str:
    return secrets.token_urlsafe(32)


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
