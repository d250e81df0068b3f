from pydantic import Field
from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCORING_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "scoring"
    database_name: str = "crm_scoring"
    # Batch recompute: rows per COPY chunk written back (~500 bytes a row in their stored forms; two chunks per
    # connection in memory at once, one sent while the next is encoded), and events per outbox row.
    batch_write_chunk: int = 50_000
    batch_events_per_message: int = 5_000
    # Connections the batch builds the next scores table on (its rows split among them, then its index
    # builds): one backend each, so about the database server's cores.
    batch_write_connections: int = Field(default=2, ge=1, le=16)
    # Where a rebuild reads the customer service's NDJSON order export (the gateway or the service itself).
    customer_service_url: str = "http://127.0.0.1:8001"
