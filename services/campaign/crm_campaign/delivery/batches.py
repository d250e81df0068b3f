"""Postal mail and phone campaigns leave in batches: a print file or a call list.

Creating a batch takes the campaign's due recipients, re-checks the send-time rules on them (as the worker
does for email: an opt-out since the launch suppresses), and hands the rest over in one transaction: they
become `sent` (provider_ref `batch:<id>`), count for the frequency caps, publish `delivery.sent`, and for
phone each gets an open call task. The batch's CSV can be downloaded again at any time; call tasks get
their outcome as the calls are made."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.auth import Principal
from crm_shared.outbox import publish
from crm_shared.pagination import Page, PageRequest
from crm_shared.schemas.campaigns import DeliverySentData

from ..audience.models import AudienceCustomer
from ..campaigns.exceptions import CampaignNotFound
from ..campaigns.rules import SendPolicy, gate, record_contacts
from ..events import PUBLISHER
from .exceptions import (
    BatchNotFound,
    CallTaskNotFound,
    NotABatchChannel,
    NothingDue,
    NotLaunched,
    StaleCallTask,
)
from .models import CallTask, DeliveryBatch
from .schemas import BatchRead, CallTaskDone, CallTaskRead

BATCH_CHANNELS = ("mail", "phone")
# The columns of each file. Postal address lines are not in the read model yet: the print house gets the
# name, region and country (see the report on what the audience sync should add).
CSV_COLUMNS = {
    "mail": ("customer_id", "display_name", "first_name", "last_name", "region", "country"),
    "phone": ("customer_id", "display_name", "first_name", "last_name", "phone", "time_zone"),
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_DUE = """
    SELECT customer_id FROM campaign_recipients
    WHERE campaign_id = :campaign_id AND status = 'queued' AND not_before <= :now
    ORDER BY not_before, customer_id LIMIT :limit FOR UPDATE SKIP LOCKED
"""
_HAND_OVER = """
    UPDATE campaign_recipients SET status = 'sent', sent_at = :now, attempts = attempts + 1,
        provider_ref = :ref, updated_at = :now
    WHERE campaign_id = :campaign_id AND customer_id = ANY(:ids)
"""


def _batch_read(row: Any) -> BatchRead:
    return BatchRead.model_validate(row, from_attributes=True)


async def create_batch(
    session: AsyncSession, *, principal: Principal, campaign_id: uuid.UUID, limit: int, policy: SendPolicy
) -> BatchRead:
    campaign = (
        await session.execute(
            text("SELECT id, channel, kind, status FROM campaigns WHERE id = :id FOR SHARE"), {"id": campaign_id}
        )
    ).one_or_none()
    if campaign is None:
        raise CampaignNotFound(campaign_id)
    if campaign.channel not in BATCH_CHANNELS:
        raise NotABatchChannel(campaign.channel)
    if campaign.status != "launched":
        raise NotLaunched(campaign.status)
    now = datetime.now(UTC)
    due = [
        r.customer_id
        for r in await session.execute(text(_DUE), {"campaign_id": campaign_id, "now": now, "limit": limit})
    ]
    ids = await gate(session, campaign_id, due, now=now, policy=policy) if due else []
    if not ids:
        raise NothingDue()
    batch = (
        await session.execute(
            text(
                "INSERT INTO delivery_batches (campaign_id, channel, size, created_by) "
                "VALUES (:campaign_id, :channel, :size, :by) "
                "RETURNING id, campaign_id, channel, size, created_by, created_at"
            ),
            {"campaign_id": campaign_id, "channel": campaign.channel, "size": len(ids), "by": principal.client_id},
        )
    ).one()
    ref = f"batch:{batch.id}"
    await session.execute(text(_HAND_OVER), {"campaign_id": campaign_id, "ids": ids, "now": now, "ref": ref})
    await record_contacts(session, campaign_id, ids, channel=campaign.channel, kind=campaign.kind, at=now)
    if campaign.channel == "phone":
        await session.execute(
            text(
                "INSERT INTO call_tasks (campaign_id, customer_id, batch_id) "
                "SELECT :campaign_id, unnest(CAST(:ids AS uuid[])), :batch_id"
            ),
            {"campaign_id": campaign_id, "ids": ids, "batch_id": batch.id},
        )
    events = [
        PUBLISHER.event(
            "delivery.sent",
            subject=customer_id,
            data=(
                DeliverySentData(
                    campaign_id=campaign_id,
                    customer_id=customer_id,
                    channel=campaign.channel,
                    sent_at=now,
                    provider_ref=ref,
                )
            ),
        )
        for customer_id in ids
    ]
    await publish(session, events)
    return _batch_read(batch)


async def list_batches(session: AsyncSession, campaign_id: uuid.UUID, page: PageRequest) -> Page[BatchRead]:
    stmt = select(DeliveryBatch).where(DeliveryBatch.campaign_id == campaign_id)
    return await page.fetch(
        session,
        stmt,
        order=(DeliveryBatch.created_at.desc(), DeliveryBatch.id.desc()),
        binding={"campaign": str(campaign_id)},
        item=_batch_read,
    )


async def batch_csv(session: AsyncSession, campaign_id: uuid.UUID, batch_id: uuid.UUID) -> str:
    channel = await session.scalar(
        text("SELECT channel FROM delivery_batches WHERE id = :id AND campaign_id = :campaign_id"),
        {"id": batch_id, "campaign_id": campaign_id},
    )
    if channel is None:
        raise BatchNotFound()
    columns = CSV_COLUMNS[channel]
    rows = await session.execute(
        text(
            f"SELECT {', '.join('a.' + c for c in columns)} FROM campaign_recipients r "
            "JOIN audience_customers a ON a.customer_id = r.customer_id "
            "WHERE r.campaign_id = :campaign_id AND r.provider_ref = :ref ORDER BY a.customer_id"
        ),
        {"campaign_id": campaign_id, "ref": f"batch:{batch_id}"},
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(name, value) for name, value in zip(columns, row, strict=True)])
    return out.getvalue()


def _cell(column: str, value: Any) -> str:
    """A CSV cell; a name starting like a formula is quoted with ' so a spreadsheet shows it as text."""
    if value is None:
        return ""
    cell = str(value)
    if column != "phone" and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


# -- call tasks ---------------------------------------------------------------------------------------------
def _task_read(row: Any) -> CallTaskRead:
    return CallTaskRead.model_validate(dict(row._mapping))


def _tasks() -> Any:
    """Call tasks with whom to call: one row of plain columns (the keyset reads `customer_id` by name)."""
    t, a = CallTask, AudienceCustomer
    columns = (t.campaign_id, t.customer_id, t.batch_id, t.status, t.outcome, t.notes, t.done_by, t.version)
    return select(*columns, t.updated_at, a.display_name, a.phone).outerjoin(a, a.customer_id == t.customer_id)


async def list_call_tasks(
    session: AsyncSession, campaign_id: uuid.UUID, status: str | None, page: PageRequest
) -> Page[CallTaskRead]:
    stmt = _tasks().where(CallTask.campaign_id == campaign_id)
    if status is not None:
        stmt = stmt.where(CallTask.status == status)
    return await page.fetch(
        session,
        stmt,
        order=(CallTask.customer_id,),
        binding={"campaign": str(campaign_id), "status": status},
        item=_task_read,
        scalars=False,
    )


async def complete_call_task(
    session: AsyncSession,
    *,
    principal: Principal,
    campaign_id: uuid.UUID,
    customer_id: uuid.UUID,
    data: CallTaskDone,
    if_match: int | None,
) -> CallTaskRead:
    version = await session.scalar(
        text("SELECT version FROM call_tasks WHERE campaign_id = :c AND customer_id = :k FOR UPDATE"),
        {"c": campaign_id, "k": customer_id},
    )
    if version is None:
        raise CallTaskNotFound()
    if if_match is not None and if_match != version:
        raise StaleCallTask(version)
    await session.execute(
        text(
            "UPDATE call_tasks SET status = 'done', outcome = :outcome, notes = :notes, done_by = :by, "
            "version = version + 1, updated_at = now() WHERE campaign_id = :c AND customer_id = :k"
        ),
        {"outcome": data.outcome, "notes": data.notes, "by": principal.client_id, "c": campaign_id, "k": customer_id},
    )
    row = (
        await session.execute(_tasks().where(CallTask.campaign_id == campaign_id, CallTask.customer_id == customer_id))
    ).one()
    return _task_read(row)
