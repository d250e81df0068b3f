"""Who is calling: partner API keys and user JWTs, turned into a Principal and the headers that
carry it to the services. Verified credentials are cached so the hot path does not re-hash or
re-verify; JWT cache entries expire with the token."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TypeVar

import jwt

from crm_shared.auth import (
    API_KEY_PREFIX,
    CLIENT_ID_HEADER,
    CLIENT_KIND_HEADER,
    SCOPES_HEADER,
    Principal,
    secret_matches,
    split_api_key,
)

from .config import HMAC_ALGORITHMS, ApiKey, GatewaySettings

CHALLENGE = 'Bearer realm="crm"'
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
    """An authenticated principal, with what the proxy needs precomputed."""

    principal: Principal
    forward_headers: tuple[tuple[str, str], ...]  # the x-crm-* headers for the services
    rate_key: str  # rate-limit identity: kind and client id, so a user and a partner never share one

    @classmethod
    def of(cls, client_id: str, kind: str, scopes: frozenset[str]) -> Caller:
        headers = (
            (CLIENT_ID_HEADER, client_id),
            (CLIENT_KIND_HEADER, kind),
            (SCOPES_HEADER, " ".join(sorted(scopes))),
        )
        return cls(Principal(client_id, kind, scopes), headers, f"{kind}:{client_id}")


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
        # One verification key per accepted algorithm, so an HMAC secret is never used to check an
        # RSA/EC token and the reverse (the algorithm-confusion attack).
        secret = settings.jwt_secret.get_secret_value()
        self._jwt_keys = {
            alg: (secret if alg in HMAC_ALGORITHMS else settings.jwt_public_key) for alg in self._algorithms
        }
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        self._leeway = settings.jwt_leeway_seconds
        self._role_scopes = {role: frozenset(scopes) for role, scopes in settings.role_scopes.items()}

    def authenticate(self, authorization: str | None, api_key: str | None) -> Caller:
        """Raise AuthError unless the request carries a valid API key or JWT."""
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise AuthError("use 'Authorization: Bearer <API key or JWT>'")
            if token.startswith(_KEY_PREFIX):
                return self.api_key(token)
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
        caller = Caller.of(stored.client_id, "partner", frozenset(stored.scopes))
        self._key_cache.put(key, caller)
        return caller

    def jwt(self, token: str) -> Caller:
        cached = self._jwt_cache.get(token)
        if cached is not None:
            caller, expires = cached
            if time.time() < expires:
                return caller
            del self._jwt_cache[token]
        try:
            alg = jwt.get_unverified_header(token).get("alg")
            key = self._jwt_keys.get(alg) if isinstance(alg, str) else None
            if key is None:
                raise invalid_token(f"JWT algorithm {alg!r} is not accepted")
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise invalid_token("the token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise invalid_token(f"the token is not valid: {exc}") from exc
        caller = Caller.of(str(claims["sub"]), "user", self._scopes_of(claims.get("roles")))
        self._jwt_cache.put(token, (caller, float(claims["exp"]) + self._leeway))
        return caller

    def _scopes_of(self, roles: object) -> frozenset[str]:
        if isinstance(roles, str):
            roles = [roles]
        if not isinstance(roles, list):
            return frozenset()
        scopes: frozenset[str] = frozenset()
        for role in roles:
            if isinstance(role, str) and role in self._role_scopes:
                scopes |= self._role_scopes[role]
        return scopes
