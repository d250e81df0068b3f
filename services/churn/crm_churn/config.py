from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CHURN_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "churn"
    database_name: str = "crm_churn"
