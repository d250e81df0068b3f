"""Settings base: one subclass per service, environment variables with a per-service prefix."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from .auth import check_secret


class Subscription(BaseModel):
    """Where a service's outbox delivers events, and which event types go there (fnmatch patterns)."""

    name: str
    url: str
    types: list[str] = ["*"]


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set `env_prefix` (e.g. CUSTOMER_) and `service_name`."""

    # hide_input_in_errors: a refused setting must not echo the start of a secret into the logs.
    model_config = SettingsConfigDict(extra="ignore", env_nested_delimiter="__", hide_input_in_errors=True)

    service_name: str = "service"
    environment: Literal["development", "test", "production"] = "development"
    # A full SQLAlchemy URL for this service's own database. When unset, the server named by the
    # un-prefixed DATABASE_URL is used with this service's database name.
    database_url: str | None = None
    database_name: str = "crm"
    # Connections kept open per process. Overflow connections are opened for a burst and closed when
    # returned, so a pool smaller than the usual concurrency churns backends (a fork each) under load.
    db_pool_size: int = 20
    db_max_overflow: int = 10
    db_lock_timeout_ms: int = 3000
    # The largest API request body accepted (413 above it). A batch of 5,000 orders with customer details
    # and a few lines each is ~3-6 MB. Deliveries between services (POST /internal/events) carry up to
    # ~5,000 events plus one whole outbox message (a bulk push's 10,000), so they get their own bound.
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    max_event_body_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    # Build the OpenAPI document at startup, before serving: a cold build takes 0.2-0.6 s of CPU, and on a
    # loaded machine it passed the gateway's fetch timeout, so the gateway published its API without this
    # service. The test plugin turns it off for in-process apps (hundreds of startups), not for processes.
    openapi_prebuild: bool = True
    log_level: str = "INFO"
    log_json: bool = True
    access_log: bool = True
    # Secrets, none with a default (startup stops naming a missing one; `make run` generates them):
    # HMAC keys for pagination cursors and for signing events between services, and the keys of the
    # principal tokens the gateway and other services send (the first signs, every one verifies).
    cursor_secret: SecretStr = SecretStr("")
    event_secret: SecretStr = SecretStr("")
    principal_keys: list[SecretStr] = Field(default_factory=list)
    # Outbox relay.
    subscribers: list[Subscription] = Field(default_factory=list)
    outbox_enabled: bool = True
    outbox_poll_seconds: float = 2.0
    outbox_batch_size: int = 50
    # A message stays owed to a subscriber until it takes it, retried at most every backoff cap, and is
    # dead-lettered only after give_up_after_hours (or max_attempts, when above 0).
    outbox_max_attempts: int = 0
    outbox_backoff_base: float = 1.0  # seconds; doubles per failed attempt up to the cap
    outbox_backoff_cap_seconds: float = 30.0
    outbox_give_up_after_hours: float = 72.0
    outbox_delivery_timeout: float = 10.0
    # Idempotency keys are kept at least this long. (A duplicate arriving while the first request
    # still holds the key waits up to db_lock_timeout_ms for it, then gets 409.)
    idempotency_ttl_hours: int = 48
    # Housekeeping: how often, and how long delivered outbox messages and inbox ids are kept.
    housekeeping_interval_seconds: float = 600.0
    outbox_retention_days: int = 7
    inbox_retention_days: int = 30
    # On SIGTERM /readyz answers 503 at once and the server keeps serving this long before it stops
    # accepting connections and drains (crm_shared/shutdown.py). 0 under Kubernetes, whose preStop sleep
    # does the same; a few seconds behind a load balancer that learns of the stop only from /readyz.
    shutdown_delay_seconds: float = Field(default=0.0, ge=0, le=60)
    # OpenTelemetry traces (crm_shared/tracing.py), off by default: "otlp" exports over OTLP/HTTP to
    # otel_endpoint (default: the standard OTEL_EXPORTER_OTLP_ENDPOINT, else localhost:4318), "console"
    # prints them. Needs the OpenTelemetry packages listed in requirements-dev.txt.
    otel_traces: Literal["none", "otlp", "console"] = "none"
    otel_endpoint: str | None = None

    @model_validator(mode="after")
    def _secrets_configured(self) -> ServiceSettings:
        prefix = str(self.model_config.get("env_prefix", "")).upper()
        for name in ("cursor_secret", "event_secret"):
            check_secret(f"{prefix}{name.upper()}", getattr(self, name).get_secret_value())
        if not self.principal_keys:
            check_secret(f"{prefix}PRINCIPAL_KEYS", None)
        for key in self.principal_keys:
            check_secret(f"{prefix}PRINCIPAL_KEYS", key.get_secret_value())
        return self

    @property
    def principal_key_values(self) -> list[str]:
        return [k.get_secret_value() for k in self.principal_keys]

    @property
    def async_database_url(self) -> str:
        """The asyncpg URL of this service's database."""
        return resolve_database_url(self.database_url, self.database_name)


def resolve_database_url(explicit: str | None, database_name: str) -> str:
    """Pick this service's database URL: its own variable first, else DATABASE_URL's server."""
    raw = explicit or os.environ.get("DATABASE_URL")
    if not raw:
        raise RuntimeError(
            "no database configured: set DATABASE_URL (or the service's own *_DATABASE_URL), "
            "or start the suite with `make run`, which starts an embedded PostgreSQL"
        )
    url = make_url(raw)
    if not explicit:
        url = url.set(database=database_name)
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
