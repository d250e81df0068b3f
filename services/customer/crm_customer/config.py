from pydantic import Field
from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CUSTOMER_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "customer"
    database_name: str = "crm_customer"
    # Streaming exports read this many rows per keyset page.
    export_page_size: int = 5000
    # The duplicates list's name groups are recomputed in the background (hygiene/worker.py): off only for
    # tests that drive the refresh themselves; the poll is how soon a customer write's change is listed.
    name_groups_worker: bool = True
    name_groups_poll_seconds: float = Field(default=1.0, gt=0, le=3600)
