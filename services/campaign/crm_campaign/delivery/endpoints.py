"""Postal-mail and call-list batches and call tasks of a campaign (`/api/v1/campaigns/{id}/...`).

Email and SMS need no endpoint: the delivery worker sends them as they fall due."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import IfMatchDep
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep

from ..campaigns.rules import SendPolicy
from . import batches
from .schemas import BatchCreate, BatchRead, CallTaskDone, CallTaskRead

router = APIRouter(prefix="/api/v1/campaigns", tags=["delivery"])


@router.post("/{campaign_id:uuid}/batches", response_model=BatchRead, status_code=201, responses={409: {}})
async def create_batch(
    campaign_id: uuid.UUID,
    data: BatchCreate,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, allow("campaigns:write")],
    idem: IdempotencyDep,
) -> Response:
    """Hand the due recipients of a postal-mail or phone campaign over as one batch (print file or call
    list; phone: a call task each), after re-checking consent and caps. They count as sent."""
    policy = SendPolicy.from_settings(request.app.state.settings)
    batch = await batches.create_batch(
        session, principal=principal, campaign_id=campaign_id, limit=data.limit, policy=policy
    )
    return await idem.respond(201, batch, location=batch.csv_url)


@router.get("/{campaign_id:uuid}/batches", response_model=Page[BatchRead])
async def list_batches(
    campaign_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("campaigns:read")],
    page: PageDep,
) -> Page[BatchRead]:
    """The campaign's batches, newest first; keyset pagination."""
    return await batches.list_batches(session, campaign_id, page)


@router.get("/{campaign_id:uuid}/batches/{batch_id:uuid}/csv", response_class=Response)
async def batch_csv(
    campaign_id: uuid.UUID,
    batch_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("campaigns:read", extra=("pii:read",), pii=True)],
) -> Response:
    """The batch as CSV (names and addresses or phone numbers: needs pii:read, and is audited)."""
    body = await batches.batch_csv(session, campaign_id, batch_id)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}-batch-{batch_id}.csv"'},
    )


@router.get("/{campaign_id:uuid}/call-tasks", response_model=Page[CallTaskRead])
async def list_call_tasks(
    campaign_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("campaigns:read", pii=True)],
    page: PageDep,
    status: Literal["open", "done"] | None = None,
) -> Page[CallTaskRead]:
    """The campaign's call tasks by customer id (phone numbers masked without pii:read)."""
    return await batches.list_call_tasks(session, campaign_id, status, page)


@router.put("/{campaign_id:uuid}/call-tasks/{customer_id:uuid}", response_model=CallTaskRead, responses={412: {}})
async def complete_call_task(
    campaign_id: uuid.UUID,
    customer_id: uuid.UUID,
    data: CallTaskDone,
    session: SessionDep,
    principal: Annotated[Principal, allow("campaigns:write")],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Record the call's outcome (the task is then done); If-Match (the task's version) is optional."""
    task = await batches.complete_call_task(
        session, principal=principal, campaign_id=campaign_id, customer_id=customer_id, data=data, if_match=if_match
    )
    return await idem.respond(200, task, version=task.version)
