from crm_shared.migrations import run_env
from crm_webhooks.config import Settings
from crm_webhooks.models import Base

run_env(Base.metadata, default_url=lambda: Settings().async_database_url)
