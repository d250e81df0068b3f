"""Every query of the exchange-rate domain."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import CurrencyRate

CHUNK = 4_000  # rows per INSERT: 6 parameters each, under PostgreSQL's 32,767 bind parameters


async def upsert(session: AsyncSession, rows: list[dict[str, Any]], *, by: str | None) -> tuple[int, int]:
    """Insert or replace the rates (a rate loaded again with its value is left alone); (created, updated)."""
    created = updated = 0
    for start in range(0, len(rows), CHUNK):
        values = insert(CurrencyRate).values([{**row, "updated_by": by} for row in rows[start : start + CHUNK]])
        stmt: Any = values.on_conflict_do_update(
            index_elements=[CurrencyRate.quote_currency, CurrencyRate.currency, CurrencyRate.valid_from],
            set_={"rate": values.excluded.rate, "updated_at": func.now(), "updated_by": values.excluded.updated_by},
            where=CurrencyRate.rate != values.excluded.rate,
        ).returning(literal_column("xmax = 0").label("created"))  # xmax 0: inserted, not updated
        flags = [row.created for row in await session.execute(stmt)]
        created += sum(flags)
        updated += len(flags) - sum(flags)
    return created, updated


def rates(quote_currency: str, currency: str | None) -> Select[CurrencyRate]:
    stmt = select(CurrencyRate).where(CurrencyRate.quote_currency == quote_currency)
    return stmt if currency is None else stmt.where(CurrencyRate.currency == currency)
