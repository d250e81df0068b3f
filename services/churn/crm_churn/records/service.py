"""Churn record rules: one open record per customer; declared by an agent (with reasons) or inferred
(lifecycle churned; churn risk over the threshold long enough), each keeping the customer's value at
churn; won back by a later order; folded on merges. Every new record calls the win-back hook, publishes
`churn.detected` and has the mass-churn alert evaluated, all in the same transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.pagination import Page, PageRequest
from crm_shared.schemas.churn import ChurnDetectedData

from ..alerts import service as alerts
from ..config import Settings
from ..events import envelope
from ..reasons import repository as reasons_repository
from ..reasons import service as reasons
from ..reports import ledger
from . import hooks, repository, suggestions
from .exceptions import AlreadyChurned, BadTransition, IfMatchRequired, RecordNotFound, StaleRecord
from .models import ChurnRecord
from .schemas import Evidence, RecordCreate, RecordFilters, RecordRead, RecordUpdate, Suggestion

# The status machine: open records move on; won back and lost are final (a later churn is a new record).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "churned": ("in_winback", "won_back", "lost"),
    "in_winback": ("churned", "won_back", "lost"),
    "won_back": (),
    "lost": (),
}
FINAL = ("won_back", "lost")


def to_read(record: ChurnRecord, reason_keys: list[str]) -> RecordRead:
    fields = {name: getattr(record, name) for name in RecordRead.model_fields if name != "reasons"}
    return RecordRead.model_validate({**fields, "reasons": reason_keys})


async def read(session: AsyncSession, record: ChurnRecord) -> RecordRead:
    return to_read(record, (await repository.reasons_of(session, [record.id]))[record.id])


async def open_record(
    session: AsyncSession,
    settings: Settings,
    *,
    customer_id: uuid.UUID,
    source: str,
    detected_at: datetime,
    reasons: list[str] = [],  # noqa: B006 - never mutated
    declared_by: str | None = None,
    note: str | None = None,
    margin: Decimal | None = None,
    stage: str | None = None,
) -> ChurnRecord | None:
    """A new record with the value at churn, or None when the customer already has an open one (an
    inferred churn then changes nothing; a declared one is refused by the caller)."""
    owner = await repository.resolve(session, customer_id)
    value = await repository.lock_customer(session, owner)
    if await repository.open_record(session, owner) is not None:
        return None
    record = ChurnRecord(
        id=uuid.uuid4(),
        customer_id=owner,
        status="churned",
        source=source,
        detected_at=detected_at,
        declared_by=declared_by,
        note=note,
        clv=value.clv,
        abc_class=value.abc_class,
        composite_score=value.composite_score,
        revenue_12m=await repository.revenue_12m(session, owner, detected_at),
        margin=settings.default_margin if margin is None else margin,
        stage=stage or value.stage,
        segment=value.rfm_segment,
        region=value.region,
        channel=value.last_order_channel,
    )
    session.add(record)
    await session.flush()
    await repository.add_reasons(session, record.id, reasons, declared_by)
    await hooks.on_churned(session, record)
    data = ChurnDetectedData(
        record_id=record.id,
        customer_id=owner,
        source=source,  # type: ignore[arg-type]
        detected_at=detected_at,
        reasons=sorted(reasons),
        clv=record.clv,
        abc_class=record.abc_class,  # type: ignore[arg-type]
        composite_score=record.composite_score,
        revenue_12m=record.revenue_12m,
        margin=record.margin,
        stage=record.stage,
        segment=record.segment,
        region=record.region,
    )
    await outbox.publish(session, [envelope("churn.detected", subject=owner, data=data)])
    await alerts.evaluate(session, settings, record)
    return record


async def declare(session: AsyncSession, settings: Settings, data: RecordCreate, by: str) -> ChurnRecord:
    keys = await reasons.usable(session, data.reasons)
    async with ledger.track(session, [data.customer_id]):  # the churn-rate ledger follows the new record
        record = await open_record(
            session,
            settings,
            customer_id=data.customer_id,
            source="declared",
            detected_at=data.detected_at or datetime.now(UTC),
            reasons=keys,
            declared_by=by,
            note=data.note,
            margin=data.margin,
        )
    if record is None:
        existing = await repository.open_record(session, await repository.resolve(session, data.customer_id))
        raise AlreadyChurned(data.customer_id, existing.id if existing else "?")
    return record


async def get(session: AsyncSession, record_id: uuid.UUID, *, for_update: bool = False) -> ChurnRecord:
    record = await repository.get(session, record_id, for_update=for_update)
    if record is None:
        raise RecordNotFound(record_id)
    return record


async def list_records(session: AsyncSession, filters: RecordFilters, page: PageRequest) -> Page[RecordRead]:
    binding = filters.model_dump(mode="json")
    result = await page.fetch(
        session,
        repository.listing(filters.model_dump()),
        order=(ChurnRecord.detected_at.desc(), ChurnRecord.id.desc()),
        binding=binding,
    )
    records: list[ChurnRecord] = result.items
    keys = await repository.reasons_of(session, [r.id for r in records])
    return Page[RecordRead](items=[to_read(r, keys[r.id]) for r in records], next_cursor=result.next_cursor)


def set_status(record: ChurnRecord, status: str) -> None:
    """Move a record (the caller holds it locked); 409 naming the state and the allowed moves otherwise.
    Public for the win-back workflow (in_winback, lost); bumps the version, no event."""
    allowed = TRANSITIONS[record.status]
    if status == record.status:
        return
    if status not in allowed:
        raise BadTransition(record.status, status, list(allowed))
    now = datetime.now(UTC)
    record.status = status
    record.closed_at = now if status in FINAL else None
    touch(record, now)


def touch(record: ChurnRecord, now: datetime | None = None) -> None:
    record.version += 1
    record.updated_at = now or datetime.now(UTC)


async def update(
    session: AsyncSession, record_id: uuid.UUID, data: RecordUpdate, if_match: int | None, by: str
) -> ChurnRecord:
    if if_match is None:
        raise IfMatchRequired()
    record = await get(session, record_id, for_update=True)
    if record.version != if_match:
        raise StaleRecord(record.version)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    version = record.version
    if changes.get("status") is not None:
        set_status(record, changes["status"])
    if changes.get("reasons") is not None:
        keys = await reasons.usable(session, changes["reasons"]) if changes["reasons"] else []
        await repository.replace_reasons(session, record.id, keys, by)
    if "note" in changes:
        record.note = changes["note"]
    if record.version == version:  # reasons or note only
        touch(record)
    await session.flush()
    return record


async def suggested_reasons(session: AsyncSession, record_id: uuid.UUID) -> list[Suggestion]:
    record = await get(session, record_id)
    found = suggestions.evidence_by_reason(await repository.complaints(session, record.customer_id))
    catalogue = await reasons_repository.many(session, [rule.reason for rule, _ in found])
    applied = set((await repository.reasons_of(session, [record.id]))[record.id])
    out = []
    for rule, hits in found:
        reason = catalogue.get(rule.reason)
        if reason is None or reason.retired_at is not None:  # a firm retired it: suggest nothing
            continue
        out.append(
            Suggestion(
                reason=reason.key,
                label=reason.label,
                taxonomy=reason.taxonomy,
                rule=rule.description,
                applied=reason.key in applied,
                evidence=[Evidence.model_validate(c, from_attributes=True) for c in hits],
            )
        )
    return out


# -- from events ------------------------------------------------------------------------------------


async def won_back(session: AsyncSession, customer_id: uuid.UUID, order_id: uuid.UUID, ordered_at: datetime) -> None:
    """An order after the churn: the customer's open records become won back (the hook closes a case)."""
    owner = await repository.resolve(session, customer_id)
    for record in await repository.open_records_after(session, owner, ordered_at):
        set_status(record, "won_back")
        record.won_back_at = ordered_at
        record.won_back_order_id = order_id
        await session.flush()
        await hooks.on_won_back(session, record, order_id)


async def fold(session: AsyncSession, survivor: uuid.UUID, merged: uuid.UUID) -> None:
    """A merge: the merged customer's records move to the survivor; when both have an open record, the
    later one folds into the earlier (its reasons copied), so one open record stays."""
    await repository.lock_customer(session, survivor)
    mine = await repository.records_of(session, survivor)
    theirs = await repository.records_of(session, merged)
    open_ = sorted(
        (r for r in (*mine, *theirs) if r.status in ("churned", "in_winback")), key=lambda r: (r.detected_at, r.id)
    )
    for later in open_[1:]:
        await repository.copy_reasons(session, later.id, open_[0].id)
        later.folded_into = open_[0].id
        touch(later)
    await session.flush()
    await repository.move_records(session, merged, survivor)
    for later in open_[1:]:
        await hooks.on_folded(session, later, open_[0])
    await hooks.on_customer_merged(session, survivor, merged)
