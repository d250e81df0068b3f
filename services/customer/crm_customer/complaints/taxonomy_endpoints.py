"""Complaint taxonomy endpoints: the categories complaints are filed under and the SLA of each severity.
Thin handlers; the rules live in taxonomy.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.idempotency import IdempotencyDep

from . import taxonomy
from .endpoints import BASE, READ, WRITE
from .schemas import CategoryCreate, CategoryRead, CategoryUpdate, Severity, SlaRead, SlaUpdate

router = APIRouter(prefix="/api/v1", tags=["complaints"])


@router.get(f"{BASE}/categories", response_model=list[CategoryRead])
async def list_categories(
    session: ReadSessionDep, principal: Annotated[Principal, allow(READ)], include_inactive: bool = False
) -> list[CategoryRead]:
    """The complaint categories, active ones unless `include_inactive`."""
    rows = await taxonomy.list_categories(session, include_inactive=include_inactive)
    return [CategoryRead.model_validate(c) for c in rows]


@router.post(
    f"{BASE}/categories", status_code=201, response_model=CategoryRead, responses={409: {"description": "key taken"}}
)
async def create_category(
    data: CategoryCreate, session: SessionDep, principal: Annotated[Principal, allow(WRITE)], idem: IdempotencyDep
) -> Response:
    """Add a user-defined complaint category."""
    category = await taxonomy.create_category(session, data)
    location = f"{router.prefix}{BASE}/categories/{category.key}"
    return await idem.respond(201, CategoryRead.model_validate(category), location=location)


@router.patch(
    f"{BASE}/categories/{{key}}",
    response_model=CategoryRead,
    responses={409: {"description": "a system category keeps its label"}},
)
async def update_category(
    key: str,
    data: CategoryUpdate,
    session: SessionDep,
    principal: Annotated[Principal, allow(WRITE)],
    idem: IdempotencyDep,
) -> Response:
    """Relabel a user-defined category, or (de)activate any category."""
    category = await taxonomy.update_category(session, key, data)
    return await idem.respond(200, CategoryRead.model_validate(category))


@router.get(f"{BASE}/slas", response_model=list[SlaRead])
async def list_slas(session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]) -> list[SlaRead]:
    """Hours a complaint of each severity may stay unresolved."""
    return [SlaRead.model_validate(s) for s in await taxonomy.list_slas(session)]


@router.put(f"{BASE}/slas/{{severity}}", response_model=SlaRead)
async def put_sla(
    severity: Annotated[Severity, Path()],
    data: SlaUpdate,
    session: SessionDep,
    principal: Annotated[Principal, allow(WRITE)],
    idem: IdempotencyDep,
) -> Response:
    """Set the SLA of a severity; applies to due dates computed from now on."""
    sla = await taxonomy.put_sla(session, severity, data.resolve_within_hours)
    return await idem.respond(200, SlaRead.model_validate(sla))
