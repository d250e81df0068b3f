from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CUSTOMER_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "customer"
    database_name: str = "crm_customer"
    # Streaming exports read this many rows per keyset page.
    export_page_size: int = 5000
