from crm_customer.models import Base
from crm_shared.migrations import run_env

run_env(Base.metadata)
