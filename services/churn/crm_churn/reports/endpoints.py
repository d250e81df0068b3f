"""Churn reports: chart-ready series of churn rate, reason distribution, profit lost, retention budget."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep

from . import service
from .compaction import lifespan
from .schemas import (
    BudgetFilters,
    ChurnRateFilters,
    ChurnRateReport,
    ProfitLostReport,
    ReasonReport,
    ReportFilters,
    RetentionBudget,
)

# The router carries the ledger's periodic compaction (including it starts it).
router = APIRouter(prefix="/api/v1/churn/reports", tags=["reports"], lifespan=lifespan)


@router.get("/churn-rate", response_model=ChurnRateReport)
async def churn_rate(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("churn:read")],
    filters: Annotated[ChurnRateFilters, Query()],
) -> ChurnRateReport:
    """Churn rate per month or quarter: churned in the period / active at its start, customers and revenue."""
    return await service.churn_rate(session, filters)


@router.get("/reasons", response_model=ReasonReport)
async def reasons(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("churn:read")],
    filters: Annotated[ReportFilters, Query()],
) -> ReasonReport:
    """The churn distribution by reason, in both taxonomies (counts and shares), controllable or not."""
    return await service.reasons(session, filters)


@router.get("/profit-lost", response_model=ProfitLostReport)
async def profit_lost(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("churn:read")],
    filters: Annotated[ReportFilters, Query()],
) -> ProfitLostReport:
    """Profit lost to churn (lost customers x revenue per customer x margin) and lost CLV, total and monthly."""
    return await service.profit_lost(session, filters)


@router.get("/retention-budget", response_model=RetentionBudget)
async def retention_budget(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("churn:read")],
    filters: Annotated[BudgetFilters, Query()],
) -> RetentionBudget:
    """The justified retention budget: a ceiling equal to the profit retention would save."""
    return await service.retention_budget(session, filters)
