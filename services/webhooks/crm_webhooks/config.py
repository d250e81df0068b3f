from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from crm_shared.auth import check_secret
from crm_shared.settings import ServiceSettings

from .sealing import SecretBox


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WEBHOOKS_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "webhooks"
    database_name: str = "crm_webhooks"
    # A subscription is a small JSON document: 64 KiB is plenty, and refuses anything else early (413).
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    # -- Subscriptions ------------------------------------------------------------------------------------
    # Receivers are https only; http (and hosts on private or loopback addresses) only where these allow
    # it: local runs and tests, never production (a partner must not make this service call inside).
    allow_http: bool = False
    allow_private_hosts: bool = False
    # How long a rotated-out secret still signs deliveries (beside the new one), unless the call says.
    rotation_overlap_hours: float = Field(default=24.0, ge=0, le=7 * 24)
    # Each subscription multiplies the deliveries of every event it takes: a partner holds at most this many.
    max_subscriptions_per_partner: int = Field(default=10, gt=0, le=1000)
    # Encrypt the subscriptions' signing secrets at rest (crm_webhooks.sealing): the first key encrypts,
    # every one decrypts (rotation: a new key first; the worker reseals the stored secrets under it). Each
    # at least 32 bytes; no default, like every secret.
    secret_keys: list[SecretStr] = Field(default_factory=list)
    # -- Delivery worker (crm_webhooks.deliveries.worker), in the service process ------------------------
    worker_enabled: bool = True
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    worker_batch_size: int = Field(default=100, gt=0, le=1000)
    worker_concurrency: int = Field(default=16, gt=0, le=200)  # POSTs in flight per pass
    # Short: a slow receiver holds a worker slot, and the spec asks receivers to answer fast.
    delivery_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # A failed attempt is retried after a random delay in [0, min(cap, base * 2^attempts)] (full jitter):
    # 5 s doubling to 10 h, 14 attempts (about a day at most), then the delivery is dead (replayable).
    backoff_base_seconds: float = Field(default=5.0, ge=0)
    backoff_cap_seconds: float = Field(default=10 * 3600.0, ge=0)
    max_attempts: int = Field(default=14, gt=0, le=100)
    # Bytes of a receiver's answer kept on the delivery (for the partner to see why it failed).
    response_excerpt_bytes: int = Field(default=1024, ge=0, le=65536)
    # Succeeded deliveries are deleted this long after they succeeded (dead ones stay until replayed or their
    # subscription is deleted), checked by the worker every cleanup interval.
    delivery_retention_days: float = Field(default=30.0, gt=0)
    cleanup_interval_seconds: float = Field(default=3600.0, gt=0)

    @model_validator(mode="after")
    def _secret_keys_configured(self) -> Settings:
        if not self.secret_keys:
            check_secret("WEBHOOKS_SECRET_KEYS", None)
        for key in self.secret_keys:
            check_secret("WEBHOOKS_SECRET_KEYS", key.get_secret_value())
        return self

    def secret_box(self) -> SecretBox:
        return SecretBox([k.get_secret_value() for k in self.secret_keys])
