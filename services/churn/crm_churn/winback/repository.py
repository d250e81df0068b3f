"""Every query of the win-back domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..records.models import ChurnRecord, ChurnRecordReason
from .models import CLOSED_STATES, OPEN_STATES, WinbackAction, WinbackCase
from .schemas import CaseFilters, SimilarOutcome

C = WinbackCase


def window_passed(now: datetime) -> ColumnElement[bool]:
    """An open case whose window has passed: lost, whether or not the sweep has recorded it yet."""
    return and_(C.status.in_(OPEN_STATES), C.window_ends_at < now)


def closed(now: datetime) -> ColumnElement[bool]:
    return or_(C.status.in_(CLOSED_STATES), window_passed(now))


async def record_reasons(session: AsyncSession, record_id: uuid.UUID) -> list[str]:
    stmt = select(ChurnRecordReason.reason_key).where(ChurnRecordReason.record_id == record_id)
    return sorted((await session.execute(stmt)).scalars())


async def lock_record(session: AsyncSession, record_id: uuid.UUID) -> ChurnRecord:
    stmt = select(ChurnRecord).where(ChurnRecord.id == record_id).with_for_update()
    return (await session.execute(stmt)).scalar_one()


async def get(session: AsyncSession, case_id: uuid.UUID, *, lock: bool = False) -> WinbackCase | None:
    stmt = select(C).where(C.id == case_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def of_record(session: AsyncSession, record_id: uuid.UUID) -> WinbackCase | None:
    stmt = select(C).where(C.record_id == record_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def add(session: AsyncSession, values: dict[str, Any]) -> WinbackCase:
    case_ = WinbackCase(id=uuid.uuid4(), **values)
    session.add(case_)
    await session.flush()
    await session.refresh(case_)
    return case_


async def add_action(session: AsyncSession, case_id: uuid.UUID, values: dict[str, Any]) -> WinbackAction:
    action = WinbackAction(id=uuid.uuid4(), case_id=case_id, **values)
    session.add(action)
    await session.flush()
    await session.refresh(action)
    return action


async def move_actions(session: AsyncSession, from_case: uuid.UUID, to_case: uuid.UUID) -> None:
    await session.execute(update(WinbackAction).where(WinbackAction.case_id == from_case).values(case_id=to_case))


async def move_customer(session: AsyncSession, survivor: uuid.UUID, merged: uuid.UUID) -> None:
    stmt = update(C).where(C.customer_id == merged).values(customer_id=survivor, version=C.version + 1)
    await session.execute(stmt)


async def actions(session: AsyncSession, case_id: uuid.UUID) -> list[WinbackAction]:
    stmt = select(WinbackAction).where(WinbackAction.case_id == case_id).order_by(WinbackAction.at, WinbackAction.id)
    return list((await session.execute(stmt)).scalars())


async def offered(session: AsyncSession, case_id: uuid.UUID) -> Any:
    stmt = select(func.coalesce(func.sum(WinbackAction.offer_value), 0)).where(
        WinbackAction.case_id == case_id, WinbackAction.kind == "tailored_offer"
    )
    return (await session.execute(stmt)).scalar_one()


def filtered(filters: CaseFilters, now: datetime) -> Select[WinbackCase]:
    """The cases the filters select, unordered; `status` as reads show it (a passed window reads as lost)."""
    stmt = select(C)
    if filters.status == "lost":
        stmt = stmt.where(or_(C.status == "lost", window_passed(now)))
    elif filters.status in OPEN_STATES:
        stmt = stmt.where(C.status == filters.status, C.window_ends_at >= now)
    elif filters.status is not None:
        stmt = stmt.where(C.status == filters.status)
    if filters.owner is not None:
        stmt = stmt.where(C.owner == filters.owner)
    if filters.strategy is not None:
        stmt = stmt.where(C.strategy == filters.strategy)
    if filters.customer_id is not None:
        stmt = stmt.where(C.customer_id == filters.customer_id)
    return stmt


async def similar(
    session: AsyncSession, primary_reason: str | None, value_band: str | None, now: datetime
) -> list[SimilarOutcome]:
    """Closed cases with the same primary reason and ABC class, per strategy."""
    won = func.count().filter(C.status == "won")
    stmt = (
        select(C.strategy, func.count(), won)
        .where(
            closed(now),
            C.primary_reason.is_not_distinct_from(primary_reason),
            C.value_band.is_not_distinct_from(value_band),
            C.strategy.is_not(None),
        )
        .group_by(C.strategy)
        .order_by(C.strategy)
    )
    return [
        SimilarOutcome(strategy=s or "", closed=n, won=w, success_rate=w / n if n else None)
        for s, n, w in await session.execute(stmt)
    ]


async def expired(session: AsyncSession, before: datetime, limit: int) -> list[WinbackCase]:
    """Open cases whose window ended before `before`, locked (others sweeping skip them)."""
    stmt = (
        select(C)
        .where(C.status.in_(OPEN_STATES), C.window_ends_at < before)
        .order_by(C.window_ends_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(stmt)).scalars())


def report_key(by: str) -> ColumnElement[Any]:
    """The report's grouping key; months and quarters as the truncated instant (UTC sessions), labelled
    after grouping (`report_label`), so the label is formatted once per group rather than per case."""
    ended = func.coalesce(C.closed_at, C.window_ends_at)
    keys: dict[str, ColumnElement[Any]] = {
        "month": func.date_trunc("month", ended),
        "quarter": func.date_trunc("quarter", ended),
        "reason": func.coalesce(C.primary_reason, literal("unclassified")),
        "strategy": func.coalesce(C.strategy, literal("none")),
        "owner": func.coalesce(C.owner, literal("unassigned")),
    }
    return keys[by]


def report_label(by: str, key: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.to_char(key, "YYYY-MM-DD") if by in ("month", "quarter") else key


async def report(
    session: AsyncSession, by: str, from_: datetime | None, to: datetime | None, now: datetime
) -> list[Any]:
    """Per key: closed, won, benefit (of won cases), cost; closed cases only, by when they closed. A scan of
    every closed case: the report reads the kept totals (totals.py) and this is their test oracle."""
    ended = func.coalesce(C.closed_at, C.window_ends_at)
    key = report_key(by)
    won = C.status == "won"
    stmt = select(
        report_label(by, key).label("key"),
        func.count().label("closed"),
        func.count().filter(won).label("won"),
        func.coalesce(func.sum(case((won, C.benefit), else_=0)), 0).label("benefit"),
        func.coalesce(func.sum(C.cost), 0).label("cost"),
    ).where(closed(now))
    if from_ is not None:
        stmt = stmt.where(ended >= from_)
    if to is not None:
        stmt = stmt.where(ended < to)
    return list(await session.execute(stmt.group_by(key).order_by(key)))
