"""Gateway settings: environment variables prefixed GATEWAY_ (JSON for lists and dicts)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from limits import parse
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm_shared.auth import check_secret
from crm_shared.topology import ROUTED, SERVICES

from .ratelimit import check_storage_uri
from .scopes import DEFAULT_ROLE_SCOPES, unknown_scopes

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MIN_HMAC_SECRET_BYTES = 32  # RFC 7518 3.2: at least the hash output size for HS256
_HEX64 = re.compile(r"[0-9a-f]{64}")


def default_services() -> dict[str, str]:
    return {name: f"http://127.0.0.1:{part.port}" for name, part in ROUTED.items()}


class ApiKey(BaseModel):
    """A partner key. The partner holds `crm_<id>_<secret>`; only sha256(secret) in hex is stored."""

    id: str
    hash: str
    client_id: str
    scopes: list[str]
    name: str = ""

    @field_validator("id")
    @classmethod
    def _id_has_no_separator(cls, v: str) -> str:
        if not v or "_" in v:
            raise ValueError("key id must be non-empty and contain no '_'")
        return v

    @field_validator("hash")
    @classmethod
    def _hash_is_sha256_hex(cls, v: str) -> str:
        v = v.lower()
        if not _HEX64.fullmatch(v):
            raise ValueError("hash must be the 64-character hex SHA-256 of the key's secret")
        return v

    @field_validator("scopes")
    @classmethod
    def _scopes_known(cls, v: list[str]) -> list[str]:
        if bad := unknown_scopes(v):
            raise ValueError(f"unknown scope(s) {bad}")
        return v


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", extra="ignore", env_nested_delimiter="__", hide_input_in_errors=True
    )

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    log_json: bool = True
    # uvicorn's access log costs a formatted JSON line per request; off unless asked for.
    access_log: bool = False

    # Service name (as in crm_shared.topology) -> base URL. Only listed services are routed.
    services: dict[str, str] = Field(default_factory=default_services)

    # Credentials. No secret has a default: startup stops and names the missing one.
    api_keys: list[ApiKey] = Field(default_factory=list)
    api_key_cache_size: int = 10_000
    # User JWTs: every token must carry this audience and issuer. Keys rotate without downtime: the
    # current HMAC secret plus previous ones still accepted, PEM public keys, or an identity provider's
    # JWKS URL (keys picked by the token's `kid`, fetched and cached by PyJWT's PyJWKClient).
    jwt_secret: SecretStr = SecretStr("")
    jwt_previous_secrets: list[SecretStr] = Field(default_factory=list)
    jwt_public_keys: list[str] = Field(default_factory=list)  # PEM, for RS*/ES*/PS*/EdDSA algorithms
    jwks_url: str | None = None
    jwt_algorithms: list[str] = ["HS256"]  # fixed: never taken from the token's header
    jwt_audience: str = ""
    jwt_issuer: str = ""
    jwt_leeway_seconds: float = 0.0
    # Keys of the principal tokens the gateway sends to the services (the first signs); the services
    # must hold the same list in their *_PRINCIPAL_KEYS.
    principal_keys: list[SecretStr] = Field(default_factory=list)
    jwt_cache_size: int = 10_000
    role_scopes: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_ROLE_SCOPES))

    # Upstream connections. keepalive_timeout stays under uvicorn's 5 s default so the gateway
    # never reuses a connection the service is closing.
    upstream_timeout: float = 30.0  # seconds without a byte from the service (headers or body)
    connect_timeout: float = 3.0
    pool_limit: int = 512
    pool_limit_per_host: int = 256
    keepalive_timeout: float = 4.0
    # Request bodies over this many bytes are refused with 413 before they reach a service (a 5,000-order
    # batch is about 3.5 MB); the services apply the same default themselves.
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    # Bodies to /public/ pages (a form or a one-click unsubscribe): a few fields, never more.
    public_max_body_bytes: int = Field(default=64 * 1024, gt=0)
    readiness_timeout: float = 2.0
    # On SIGTERM /readyz answers 503 at once and the gateway keeps proxying this long before it stops
    # accepting connections and drains (crm_shared/shutdown.py, as the services do).
    shutdown_delay_seconds: float = Field(default=0.0, ge=0, le=60)
    openapi_timeout: float = 5.0
    openapi_ttl_seconds: float = 300.0  # the merged document is rebuilt sooner if a service was missing

    # Python's young-generation GC threshold for the gateway process (0: keep Python's default of 700).
    gc_gen0_threshold: int = 10_000

    # Rate limit per client (API key client_id or JWT subject), in the `limits` notation.
    rate_limit: str | None = "6000/minute"
    rate_limit_strategy: Literal["fixed-window", "moving-window", "sliding-window-counter"] = "fixed-window"
    # Where the budgets are counted. "memory://" (or empty): per process, so with N workers or replicas each
    # enforces the limit on its own share of the traffic. "redis://[:password@]host:port/db" (rediss://,
    # redis+unix:///path?db=0): one budget shared by every replica; a secret, as the URI may hold a password.
    # If Redis fails, each replica falls back to counting in memory (fail open; ratelimit.py), waiting at
    # most rate_limit_storage_timeout seconds for an answer.
    rate_limit_storage: SecretStr = SecretStr("memory://")
    rate_limit_storage_timeout: float = Field(default=0.25, gt=0, le=5)

    # OpenTelemetry traces (crm_shared/tracing.py), off by default as in the services: a span per proxied
    # request, continuing a client's `traceparent`, and the gateway's own `traceparent` sent to the service.
    # "otlp" exports over OTLP/HTTP to otel_endpoint (default: OTEL_EXPORTER_OTLP_ENDPOINT), "console" logs.
    otel_traces: Literal["none", "otlp", "console"] = "none"
    otel_endpoint: str | None = None

    cors_origins: list[str] = Field(default_factory=list)
    cors_max_age: int = 600

    @field_validator("services")
    @classmethod
    def _services_known(cls, v: dict[str, str]) -> dict[str, str]:
        if unknown := sorted(set(v) - set(SERVICES)):
            raise ValueError(f"unknown service(s) {unknown}; known: {sorted(SERVICES)}")
        for name, url in v.items():
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"service {name}: base URL must be http(s)://host[:port], not {url!r}")
            if parts.path not in ("", "/") or parts.query:
                # Paths are forwarded unchanged, so a base URL names a server, not a folder.
                raise ValueError(f"service {name}: base URL must not have a path ({url!r})")
        return {name: url.rstrip("/") for name, url in v.items()}

    @field_validator("jwt_algorithms")
    @classmethod
    def _algorithms_supported(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one JWT algorithm is needed")
        for alg in v:
            if alg not in HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS:
                raise ValueError(f"JWT algorithm {alg!r} is not accepted")
        return v

    @field_validator("role_scopes")
    @classmethod
    def _role_scopes_known(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for role, scopes in v.items():
            if bad := unknown_scopes(scopes):
                raise ValueError(f"role {role}: unknown scope(s) {bad}")
        return v

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit_parses(cls, v: str | None) -> str | None:
        if v:
            parse(v)  # raises ValueError on a malformed limit
        return v or None

    @field_validator("rate_limit_storage")
    @classmethod
    def _rate_limit_storage_known(cls, v: SecretStr) -> SecretStr:
        return SecretStr(check_storage_uri(v.get_secret_value() or "memory://"))

    @model_validator(mode="after")
    def _consistent(self) -> GatewaySettings:
        ids = [k.id for k in self.api_keys]
        if len(ids) != len(set(ids)):
            raise ValueError("API key ids must be unique")
        if not self.jwt_audience or not self.jwt_issuer:
            raise ValueError("GATEWAY_JWT_AUDIENCE and GATEWAY_JWT_ISSUER must be set: tokens for other audiences fail")
        if set(self.jwt_algorithms) & HMAC_ALGORITHMS:
            check_secret("GATEWAY_JWT_SECRET", self.jwt_secret.get_secret_value())
            for old in self.jwt_previous_secrets:
                check_secret("GATEWAY_JWT_PREVIOUS_SECRETS", old.get_secret_value())
        if set(self.jwt_algorithms) & ASYMMETRIC_ALGORITHMS and not (self.jwt_public_keys or self.jwks_url):
            raise ValueError("asymmetric JWT algorithms need jwt_public_keys or jwks_url")
        if not self.principal_keys:
            check_secret("GATEWAY_PRINCIPAL_KEYS", None)
        for key in self.principal_keys:
            check_secret("GATEWAY_PRINCIPAL_KEYS", key.get_secret_value())
        return self
