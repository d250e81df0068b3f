from decimal import Decimal
from typing import Annotated

from fastapi import Depends, Request
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CHURN_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "churn"
    database_name: str = "crm_churn"

    # Inferred churn from churn risk (`score.changed`): risk at or over the threshold continuously for
    # `risk_days` days opens a record (source `risk`); checked on each score.changed of the customer.
    risk_threshold: float = Field(0.8, gt=0, le=1)
    risk_days: int = Field(60, ge=0, le=3650)
    # The gross margin share kept on a record when the agent gives none (profit lost = revenue x margin).
    default_margin: Decimal = Field(Decimal("0.10"), ge=0, le=1)
    # Mass-churn alert: a month's churn rate over `alert_factor` x its baseline (the mean monthly rate of
    # the `alert_baseline_months` before it), counting only scopes with at least `alert_min_churned` records.
    alert_factor: Decimal = Field(Decimal("2.0"), gt=1, le=100)
    alert_baseline_months: int = Field(12, ge=1, le=60)
    alert_min_churned: int = Field(5, ge=1)
    # Win-back: how often the app records passed windows as lost (crm_churn/winback/sweep.py); 0: never.
    winback_sweep_seconds: float = Field(300.0, ge=0, le=86_400)
    # How often the app folds the churn-rate ledger's appended rows (crm_churn/reports/compaction.py); 0: never.
    rate_ledger_compact_seconds: float = Field(300.0, ge=0, le=86_400)
    # how often the watchlist summary's kept figures are rescanned while read (watchlist/summary.py; 0: never)
    watchlist_summary_seconds: float = Field(60.0, ge=0, le=86_400)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]
