"""Formula endpoints: author, dry-run, list and activate versions of the composite value formula.
Thin handlers; the rules live in service.py. Fixed paths come before /formulas/{version}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep

from . import service
from .schemas import RECOMPUTE_NOTE, FormulaActivated, FormulaCheck, FormulaCheckResult, FormulaCreate, FormulaRead
from .schemas import FormulaStatus as Status

router = APIRouter(prefix="/api/v1/scores", tags=["formulas"])
READ, WRITE = "scores:read", "scores:write"
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="the formula version")]
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "invalid formula: `term`, `field` and an error pointer name what to fix"}
}


@router.get("/formulas", response_model=Page[FormulaRead])
async def list_formulas(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    page: PageDep,
    status: Annotated[Status | None, Query(description="only versions with this status")] = None,
) -> Page[FormulaRead]:
    """Formula versions, newest first; cursor pagination."""
    return await service.list_versions(session, page, status=status)


@router.get("/formulas/active", response_model=FormulaRead)
async def active_formula(session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]) -> FormulaRead:
    """The version scores are computed with."""
    return service.to_read(await service.get_active(session))


@router.post("/formulas/validate", response_model=FormulaCheckResult, responses=INVALID)
async def validate_formula(data: FormulaCheck, principal: Annotated[Principal, allow(WRITE)]) -> FormulaCheckResult:
    """Dry run: validate a formula without storing it; with `sample`, score that one customer's inputs term
    by term. Part of authoring formulas, so it needs scores:write like creating one (the gateway asks a
    write scope of every POST)."""
    return service.check(data)


@router.post("/formulas", status_code=201, response_model=FormulaRead, responses=INVALID)
async def create_formula(
    data: FormulaCreate, session: SessionDep, principal: Annotated[Principal, allow(WRITE)], idem: IdempotencyDep
) -> Response:
    """Store a new draft version; it takes effect once activated."""
    row = await service.create(session, data, by=principal.client_id)
    return await idem.respond(201, service.to_read(row), location=f"{router.prefix}/formulas/{row.version}")


@router.get("/formulas/{version:int}", response_model=FormulaRead)
async def get_formula(
    version: Version, session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]
) -> FormulaRead:
    """One formula version."""
    return service.to_read(await service.get(session, version))


@router.post(
    "/formulas/{version:int}/activate",
    response_model=FormulaActivated,
    description="Make this version the active one, retiring the previous one in the same transaction. A retired "
    "version may be activated again (a rollback); activating the active version changes nothing. " + RECOMPUTE_NOTE,
)
async def activate_formula(
    version: Version, session: SessionDep, principal: Annotated[Principal, allow(WRITE)], idem: IdempotencyDep
) -> Response:
    activated = await service.activate(session, version, by=principal.client_id)
    return await idem.respond(200, activated)
