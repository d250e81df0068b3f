"""Model-fit endpoints: the purchase and spend models the batch fitted, current and past. Thin handlers; the
rules live in service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep
from crm_shared.pagination import Page, PageDep

from . import service
from .schemas import CalibrationRead, CalibrationSummary

router = APIRouter(prefix="/api/v1/scores", tags=["models"])
READ = "scores:read"


@router.get("/models", response_model=CalibrationRead, responses={404: {"description": "no calibration yet"}})
async def current_models(session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]) -> CalibrationRead:
    """The calibration in force (the latest): each model's parameters and fit diagnostics, and the cuts."""
    return await service.current(session)


@router.get("/models/history", response_model=Page[CalibrationSummary])
async def models_history(
    session: ReadSessionDep, principal: Annotated[Principal, allow(READ)], page: PageDep
) -> Page[CalibrationSummary]:
    """Past calibrations, newest first (without cuts and rules); cursor pagination."""
    return await service.history(session, page)
