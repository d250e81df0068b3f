from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CAMPAIGN_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "campaign"
    database_name: str = "crm_campaign"
