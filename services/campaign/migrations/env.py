from crm_campaign.config import Settings
from crm_campaign.models import Base
from crm_shared.migrations import run_env

run_env(Base.metadata, default_url=lambda: Settings().async_database_url)
