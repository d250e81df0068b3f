"""Who is calling: partner API keys and user JWTs, turned into a Principal and the headers that
carry it to the services. Verified credentials are cached so the hot path does not re-hash or
re-verify; JWT cache entries expire with the token."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, TypeVar

import jwt

from crm_shared.auth import (
    API_KEY_PREFIX,
    MintedTokens,
    Principal,
    PrincipalKind,
    secret_matches,
    split_api_key,
)
from crm_shared.text import text_problem

from .config import HMAC_ALGORITHMS, ApiKey, GatewaySettings

CHALLENGE = 'Bearer realm="crm"'
MAX_SUBJECT = 255
_KEY_PREFIX = API_KEY_PREFIX + "_"


class AuthError(Exception):
    """401 (bad or missing credentials). `challenge` is the WWW-Authenticate value."""

    def __init__(self, detail: str, challenge: str = CHALLENGE) -> None:
        super().__init__(detail)
        self.detail = detail
        self.challenge = challenge


def invalid_token(detail: str) -> AuthError:
    # RFC 6750 section 3: tell the client the token itself was rejected.
    return AuthError(detail, f'{CHALLENGE}, error="invalid_token"')


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated principal, with the principal tokens minted for it, per service (cached with the
    caller, so the proxy's hot path reuses them)."""

    principal: Principal
    rate_key: str  # rate-limit identity: kind and client id, so a user and a partner never share one
    minted: MintedTokens

    @classmethod
    def of(cls, client_id: str, kind: PrincipalKind, scopes: frozenset[str], roles: tuple[str, ...]) -> Caller:
        principal = Principal(client_id, kind, scopes, roles)
        return cls(principal, principal.key, MintedTokens(principal))


V = TypeVar("V")


class BoundedCache(dict[str, V]):
    """A dict that forgets its oldest entry when full (insertion order); enough for a credential cache."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: str, value: V) -> None:
        if len(self) >= self.size:
            del self[next(iter(self))]
        self[key] = value


class Authenticator:
    def __init__(self, settings: GatewaySettings) -> None:
        self._keys: dict[str, ApiKey] = {k.id: k for k in settings.api_keys}
        self._key_cache: BoundedCache[Caller] = BoundedCache(settings.api_key_cache_size)
        self._jwt_cache: BoundedCache[tuple[Caller, float]] = BoundedCache(settings.jwt_cache_size)
        self._algorithms = list(settings.jwt_algorithms)
        # Verification keys per accepted algorithm, so an HMAC secret is never used to check an RSA/EC
        # token and the reverse (the algorithm-confusion attack). Several keys: a rotation in progress.
        secrets_ = [settings.jwt_secret, *settings.jwt_previous_secrets]
        hmac_keys = [s.get_secret_value() for s in secrets_ if s.get_secret_value()]
        self._jwt_keys: dict[str, list[Any]] = {
            alg: (hmac_keys if alg in HMAC_ALGORITHMS else list(settings.jwt_public_keys)) for alg in self._algorithms
        }
        self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True) if settings.jwks_url else None
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        self._leeway = settings.jwt_leeway_seconds
        self._role_scopes = {role: frozenset(scopes) for role, scopes in settings.role_scopes.items()}

    async def authenticate(self, authorization: str | None, api_key: str | None) -> Caller:
        """Raise AuthError unless the request carries a valid API key or JWT."""
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise AuthError("use 'Authorization: Bearer <API key or JWT>'")
            if token.startswith(_KEY_PREFIX):
                return self.api_key(token)
            cached = self._cached_jwt(token)
            if cached is not None:
                return cached
            if self._jwks is not None:
                # PyJWKClient fetches over blocking HTTP on a key-cache miss: keep it off the event loop.
                jwk = await asyncio.to_thread(self._signing_key, token)
                return self.jwt(token, jwk)
            return self.jwt(token)
        if api_key is not None:
            return self.api_key(api_key.strip())
        raise AuthError("credentials are missing: send 'Authorization: Bearer <token>' or 'X-API-Key'")

    def api_key(self, key: str) -> Caller:
        cached = self._key_cache.get(key)
        if cached is not None:
            return cached
        parts = split_api_key(key)
        stored = self._keys.get(parts[0]) if parts else None
        if parts is None or stored is None or not secret_matches(parts[1], stored.hash):
            raise invalid_token("the API key is not valid")
        caller = Caller.of(stored.client_id, "partner", frozenset(stored.scopes), ("partner",))
        self._key_cache.put(key, caller)
        return caller

    def _cached_jwt(self, token: str) -> Caller | None:
        cached = self._jwt_cache.get(token)
        if cached is not None:
            caller, expires = cached
            if time.time() < expires:
                return caller
            del self._jwt_cache[token]
        return None

    def _signing_key(self, token: str) -> Any:
        assert self._jwks is not None
        try:
            return self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError as exc:
            raise invalid_token(f"no key of the identity provider signs this token: {exc}") from exc
        except jwt.InvalidTokenError as exc:
            raise invalid_token(f"the token is not valid: {exc}") from exc

    def jwt(self, token: str, jwk: Any = None) -> Caller:
        if (cached := self._cached_jwt(token)) is not None:
            return cached
        try:
            alg = jwt.get_unverified_header(token).get("alg")
            keys = self._jwt_keys.get(alg) if isinstance(alg, str) else None
            if keys is None:
                raise invalid_token(f"JWT algorithm {alg!r} is not accepted")
            if jwk is not None:
                keys = [jwk]
            claims = self._decode(token, keys)
        except jwt.ExpiredSignatureError as exc:
            raise invalid_token("the token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise invalid_token(f"the token is not valid: {exc}") from exc
        subject = str(claims["sub"])
        if not 0 < len(subject) <= MAX_SUBJECT or text_problem(subject, single_line=True) is not None:
            # It becomes the principal's id in every service: stored in audit rows and idempotency keys.
            raise invalid_token("the token's sub must be 1 to 255 printable characters")
        roles = self._roles_of(claims.get("roles"))
        caller = Caller.of(subject, "user", self._scopes_of(roles), roles)
        self._jwt_cache.put(token, (caller, float(claims["exp"]) + self._leeway))
        return caller

    def _decode(self, token: str, keys: list[Any]) -> dict[str, Any]:
        if not keys:
            raise jwt.InvalidSignatureError("no verification key is configured for this algorithm")
        for i, key in enumerate(keys):
            try:
                return jwt.decode(
                    token,
                    key,
                    algorithms=self._algorithms,
                    audience=self._audience,
                    issuer=self._issuer,
                    leeway=self._leeway,
                    options={"require": ["exp", "sub", "aud", "iss"]},
                )
            except jwt.InvalidSignatureError:
                if i == len(keys) - 1:
                    raise
        raise AssertionError("unreachable")

    def _roles_of(self, roles: object) -> tuple[str, ...]:
        """The token's roles this gateway knows; unknown ones grant nothing (deny by default)."""
        if isinstance(roles, str):
            roles = [roles]
        if not isinstance(roles, list):
            return ()
        return tuple(r for r in roles if isinstance(r, str) and r in self._role_scopes)

    def _scopes_of(self, roles: tuple[str, ...]) -> frozenset[str]:
        scopes: frozenset[str] = frozenset()
        for role in roles:
            scopes |= self._role_scopes[role]
        return scopes
