from datetime import time
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings

from .segments.estimate import PreviewSettings


class Settings(ServiceSettings, PreviewSettings):
    model_config = SettingsConfigDict(env_prefix="CAMPAIGN_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "campaign"
    database_name: str = "crm_campaign"
    # -- Delivery (crm_campaign.delivery): the worker in the app's lifespan sends queued recipients. --
    delivery_worker_enabled: bool = True
    delivery_poll_seconds: float = Field(default=1.0, gt=0)
    delivery_batch_size: int = Field(default=500, gt=0, le=5000)
    delivery_concurrency: int = Field(default=8, gt=0, le=100)  # messages in flight per batch
    # A transient failure (4xx SMTP, provider 5xx/429, network) is retried after base * 2^n seconds (up
    # to the cap); after max_attempts the recipient is `failed`.
    delivery_max_attempts: int = Field(default=5, gt=0)
    delivery_backoff_base_seconds: float = Field(default=30.0, ge=0)
    delivery_backoff_cap_seconds: float = Field(default=3600.0, ge=0)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, gt=0, lt=65536)
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    email_from: str = "CRM <no-reply@localhost>"
    sms_provider_url: str = "http://127.0.0.1:8099/messages"
    sms_provider_token: SecretStr | None = None
    # Links in messages (unsubscribe, preference page) point here: the gateway's public address.
    public_base_url: str = "http://127.0.0.1:8000"
    # Signs those links (the first signs, every one verifies: rotation); no default, like every secret.
    link_secrets: list[SecretStr] = Field(default_factory=list)
    link_ttl_days: int = Field(default=180, gt=0)
    # Unsubscribes and preference changes are recorded at customer_service_url (consent is its own).
    # Send-time rules for marketing messages (transactional ones are exempt): at most this many marketing
    # contacts per customer in any 30 days, fewer if the customer asked for fewer; nothing in the quiet
    # hours of the customer's time zone (the default zone when the read model has none).
    marketing_monthly_cap: int = Field(default=4, ge=0)
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    default_time_zone: str = "UTC"
    # The upstreams of the bulk sync of the audience read model.
    customer_service_url: str = "http://127.0.0.1:8001"
    scoring_service_url: str = "http://127.0.0.1:8002"
