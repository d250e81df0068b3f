"""Model-fit endpoints: the purchase and spend models the batch fitted, current and past."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep
from crm_shared.errors import NotFound
from crm_shared.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor

from . import repository
from .models import Calibration
from .schemas import CalibrationRead, CalibrationSummary, ModelFit

router = APIRouter(prefix="/api/v1/scores", tags=["models"])
READ = "scores:read"


def _summary(row: Calibration) -> CalibrationSummary:
    fits = {name: ModelFit.model_validate(fit) for name, fit in (row.fits or {}).items()}
    return CalibrationSummary(id=row.id, as_of=row.as_of, created_at=row.created_at, run_id=row.run_id, fits=fits)


@router.get("/models", response_model=CalibrationRead, responses={404: {"description": "no calibration yet"}})
async def current_models(session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]) -> CalibrationRead:
    """The calibration in force (the latest): each model's parameters and fit diagnostics, and the cuts."""
    row = await repository.latest(session)
    if row is None:
        raise NotFound("no calibration yet: run POST /api/v1/scores/recompute to fit the models")
    return CalibrationRead(**_summary(row).model_dump(), cuts=row.cuts or {}, rules=row.rules or {})


@router.get("/models/history", response_model=Page[CalibrationSummary])
async def models_history(
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[CalibrationSummary]:
    """Past calibrations, newest first (without cuts and rules); cursor pagination."""
    secret = request.app.state.settings.cursor_secret.get_secret_value()
    binding = {"list": "calibrations"}
    before = decode_cursor(cursor, binding, secret, shape=(int,))[0] if cursor else None
    rows = await repository.page(session, before=before, limit=limit)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].id], binding, secret)
    return Page[CalibrationSummary](items=[_summary(r) for r in rows], next_cursor=next_cursor)
