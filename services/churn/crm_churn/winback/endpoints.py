"""Win-back endpoints: the rules, the cases and their transitions, offers (confidential), the assessment
report and the sweep. Thin handlers; the rules live in service.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.bounds import check_period
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import IfMatchDep, etag
from crm_shared.idempotency import Idempotency, IdempotencyDep
from crm_shared.pagination import Page, PageDep

from . import service
from .models import WinbackCase
from .schemas import (
    ActionCreate,
    Assign,
    CaseDetail,
    CaseFilters,
    CaseRead,
    Exclude,
    NoteBody,
    OfferCreate,
    Report,
    ReportQuery,
    SweepResult,
    WinbackRules,
)
from .sweep import lifespan

router = APIRouter(prefix="/api/v1/churn/winback", tags=["winback"], lifespan=lifespan)
READ, WRITE = "churn:read", "churn:write"
_TRANSITION: dict[int | str, dict[str, Any]] = {
    409: {"description": "not allowed in the case's state"},
    412: {"description": "stale If-Match"},
}


@router.get("/rules", response_model=service.settings_store.Stored[WinbackRules])
async def get_rules(session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]) -> Response:
    """Eligibility rules, owners, window and offer guard; the ETag is what `If-Match` on an update expects."""
    return service.settings_store.etagged(await service.load_rules(session))


@router.put(
    "/rules",
    response_model=service.settings_store.Stored[WinbackRules],
    responses={412: {"description": "stale If-Match"}, 428: {"description": "If-Match missing"}},
)
async def put_rules(
    body: Annotated[dict[str, Any], Body(examples=[WinbackRules().model_dump(mode="json")])],
    session: SessionDep,
    principal: Annotated[Principal, allow(WRITE)],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Replace the rules (If-Match required). New cases follow them; open ones on `reassess`."""
    stored, _ = await service.RULES.replace(session, body, if_match=if_match, by=principal.client_id)
    return await idem.respond(200, stored, version=stored.version)


@router.get("/cases", response_model=Page[CaseRead])
async def list_cases(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    page: PageDep,
    filters: Annotated[CaseFilters, Query()],
) -> Page[CaseRead]:
    """Cases, newest first; filters status, owner, strategy, customer; offers' costs masked without offers:read."""
    return await service.list_cases(session, filters, page, principal)


@router.get("/cases/{case_id:uuid}", response_model=CaseDetail)
async def get_case(
    case_id: uuid.UUID, session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]
) -> Response:
    """A case with its actions, allowed actions and the strategy recommendation (past success rates of
    similar cases); offers masked without offers:read."""
    case = await service.get(session, case_id)
    body = await service.detail(session, case, principal)
    return Response(body.model_dump_json(), media_type="application/json", headers={"ETag": etag(case.version)})


@dataclass(frozen=True)
class CaseCall:
    """What every case transition takes: its transaction, caller, idempotency key and If-Match."""

    session: AsyncSession
    principal: Principal
    idem: Idempotency
    if_match: int | None

    @property
    def by(self) -> str:
        return self.principal.client_id

    async def answer(self, case: WinbackCase) -> Response:
        await self.session.flush()
        detail = await service.detail(self.session, case, self.principal)
        return await self.idem.respond(200, detail, version=case.version)


async def _write_call(
    session: SessionDep, principal: Annotated[Principal, allow(WRITE)], idem: IdempotencyDep, if_match: IfMatchDep
) -> CaseCall:
    return CaseCall(session, principal, idem, if_match)


async def _offer_call(
    session: SessionDep,
    principal: Annotated[Principal, allow(WRITE, extra=[service.OFFERS_SCOPE])],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> CaseCall:
    return CaseCall(session, principal, idem, if_match)


WriteCall = Annotated[CaseCall, Depends(_write_call)]
OfferCall = Annotated[CaseCall, Depends(_offer_call)]  # offers are confidential: offers:read too


@router.post("/cases/{case_id:uuid}/assign", response_model=CaseDetail, responses=_TRANSITION)
async def assign(case_id: uuid.UUID, data: Assign, call: WriteCall) -> Response:
    """Give the case an owner (a senior one for high value) and start implementation."""
    return await call.answer(await service.assign(call.session, case_id, data, by=call.by, if_match=call.if_match))


@router.post("/cases/{case_id:uuid}/actions", response_model=CaseDetail, responses=_TRANSITION)
async def act(case_id: uuid.UUID, data: ActionCreate, call: WriteCall) -> Response:
    """Record a personal conversation or a bulk outreach (the campaign service will send those)."""
    return await call.answer(await service.act(call.session, case_id, data, by=call.by, if_match=call.if_match))


@router.post(
    "/cases/{case_id:uuid}/offers",
    response_model=CaseDetail,
    responses={**_TRANSITION, 422: {"description": "over the offer guard: the numbers are in the problem"}},
)
async def make_offer(case_id: uuid.UUID, data: OfferCreate, call: OfferCall) -> Response:
    """A tailored offer (confidential: needs offers:read), within the rules' share of the expected value."""
    return await call.answer(await service.offer(call.session, case_id, data, by=call.by, if_match=call.if_match))


@router.post("/cases/{case_id:uuid}/exclude", response_model=CaseDetail, responses=_TRANSITION)
async def exclude(case_id: uuid.UUID, data: Exclude, call: WriteCall) -> Response:
    """Do not pursue this customer (analysis only), saying why."""
    case = await service.exclude(call.session, case_id, data.reason, by=call.by, if_match=call.if_match)
    return await call.answer(case)


@router.post("/cases/{case_id:uuid}/include", response_model=CaseDetail, responses=_TRANSITION)
async def include(case_id: uuid.UUID, data: NoteBody, call: WriteCall) -> Response:
    """Pursue an excluded case after all: back to analysis, with a new window."""
    case = await service.include(call.session, case_id, data.note, by=call.by, if_match=call.if_match)
    return await call.answer(case)


@router.post("/cases/{case_id:uuid}/reassess", response_model=CaseDetail, responses=_TRANSITION)
async def reassess(case_id: uuid.UUID, call: WriteCall) -> Response:
    """Run the eligibility rules again on the record's current reasons (analysis or excluded cases)."""
    return await call.answer(await service.reassess(call.session, case_id, by=call.by, if_match=call.if_match))


@router.post("/cases/{case_id:uuid}/close", response_model=CaseDetail, responses=_TRANSITION)
async def close(case_id: uuid.UUID, data: NoteBody, call: WriteCall) -> Response:
    """Give up: the case is lost now (`winback.lost`), the churn record too."""
    case = await service.close(call.session, case_id, data.note, by=call.by, if_match=call.if_match)
    return await call.answer(case)


@router.get("/report", response_model=Report)
async def report(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    query: Annotated[ReportQuery, Query()],
) -> Report:
    """Assessment: closed cases, won, lost, success rate, benefit (expected value of those won back), cost
    and benefit/cost ratio per month, quarter, reason, strategy or owner (by when the case closed)."""
    check_period(query.from_, query.to)
    return await service.report(session, query)


@router.post("/sweep", response_model=SweepResult)
async def sweep(session: SessionDep, principal: Annotated[Principal, allow(WRITE)], idem: IdempotencyDep) -> Response:
    """Record now what the periodic sweep would: open cases whose window has passed become lost (one batch
    of up to 5,000)."""
    return await idem.respond(200, SweepResult(lost=await service.sweep(session, batch=5000)))
