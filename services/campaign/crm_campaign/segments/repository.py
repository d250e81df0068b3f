"""Every query of the segments domain."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Segment
from .rules import Compiled

# A compiled segment runs against this FROM: the live (unmerged) customers of the read model.
AUDIENCE_FROM = "audience_customers a WHERE a.merged_into IS NULL"


async def add(session: AsyncSession, values: dict[str, Any]) -> Segment:
    segment = Segment(**values)
    session.add(segment)
    await session.flush()
    await session.refresh(segment)
    return segment


async def get(session: AsyncSession, segment_id: uuid.UUID, *, lock: bool = False) -> Segment | None:
    stmt = select(Segment).where(Segment.id == segment_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def every() -> Select[Segment]:
    return select(Segment)


async def name_taken(session: AsyncSession, name: str, *, other_than: uuid.UUID | None = None) -> bool:
    stmt = select(Segment.id).where(Segment.name == name)
    if other_than is not None:
        stmt = stmt.where(Segment.id != other_than)
    return (await session.execute(stmt)).first() is not None


async def count(session: AsyncSession, compiled: Compiled) -> int:
    sql = f"SELECT count(*) FROM {AUDIENCE_FROM} AND {compiled.where}"
    return int((await session.execute(text(sql), compiled.params)).scalar_one())


async def audience_rows(session: AsyncSession) -> float:
    """The audience table's row count as the planner estimates it (reltuples scaled to the table's current
    size, as PostgreSQL does), free to read; -1 when the table was never analysed."""
    sql = (
        "SELECT CASE WHEN c.reltuples < 0 OR c.relpages = 0 THEN c.reltuples ELSE c.reltuples / c.relpages"
        " * (pg_relation_size(c.oid) / current_setting('block_size')::int) END"
        " FROM pg_class c WHERE c.oid = 'audience_customers'::regclass"
    )
    return float((await session.execute(text(sql))).scalar_one())


async def count_in_sample(session: AsyncSession, compiled: Compiled, p: float) -> tuple[int, int]:
    """(live audience rows, those matching) among the rows with sample_key < p. p is written into the SQL (a
    float we computed, not input) so that even a generic plan can see it is under SAMPLED_BELOW and read the
    partial index holding the sampled rows' rule columns."""
    sql = (
        f"SELECT count(*), count(*) FILTER (WHERE {compiled.where}) FROM {AUDIENCE_FROM}"
        f" AND a.sample_key < {float(p)!r}"
    )
    rows, matched = (await session.execute(text(sql), compiled.params)).one()
    return int(rows), int(matched)


async def sample(session: AsyncSession, compiled: Compiled, size: int) -> list[Any]:
    sql = (
        "SELECT a.customer_id, a.kind, a.stage, a.abc_class, a.rfm_segment, a.composite_score, a.clv, a.churn_risk "
        f"FROM {AUDIENCE_FROM} AND {compiled.where} "
        "ORDER BY a.composite_score DESC NULLS LAST, a.customer_id LIMIT :sample_size"
    )
    return list(await session.execute(text(sql), {**compiled.params, "sample_size": size}))
