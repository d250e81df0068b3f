from crm_churn.config import Settings
from crm_churn.models import Base
from crm_shared.migrations import run_env

run_env(Base.metadata, default_url=lambda: Settings().async_database_url)
