from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCORING_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "scoring"
    database_name: str = "crm_scoring"
