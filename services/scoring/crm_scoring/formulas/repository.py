"""Every query of the formulas domain, and `active_formula` for the scoring engine."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .engine import Formula, validate
from .exceptions import NoActiveFormula
from .models import FormulaVersion

# Serializes activations: without it, two concurrent ones could each retire the old version and then
# collide on the one-active index (a 500 instead of a clean wait).
_ACTIVATION_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('crm_scoring.formula_activation'))")


async def get(session: AsyncSession, version: int, *, for_update: bool = False) -> FormulaVersion | None:
    stmt = select(FormulaVersion).where(FormulaVersion.version == version)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def get_active(session: AsyncSession) -> FormulaVersion | None:
    stmt = select(FormulaVersion).where(FormulaVersion.status == "active")
    return (await session.execute(stmt)).scalar_one_or_none()


async def active_formula(session: AsyncSession) -> tuple[int, Formula]:
    """The active version's number and its validated formula (raises NoActiveFormula when none is)."""
    stmt = select(FormulaVersion.version, FormulaVersion.formula).where(FormulaVersion.status == "active")
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        raise NoActiveFormula()
    return row.version, validate(row.formula)


def versions(status: str | None) -> Select[Any]:
    """The formula versions, of one status when given (the list pages them newest first)."""
    stmt = select(FormulaVersion)
    return stmt if status is None else stmt.where(FormulaVersion.status == status)


async def insert_draft(session: AsyncSession, *, formula: dict[str, Any], by: str) -> FormulaVersion:
    stmt = (
        insert(FormulaVersion)
        .values(formula=formula, description=formula.get("description", ""), status="draft", created_by=by)
        .returning(FormulaVersion)
    )
    return (await session.execute(stmt)).scalar_one()


async def lock_activation(session: AsyncSession) -> None:
    await session.execute(_ACTIVATION_LOCK)


async def activate(session: AsyncSession, version: int, *, by: str) -> int | None:
    """Retire the active version (returned, if any), then activate `version`: in this order, so the
    one-active index holds after each statement. The caller holds the activation lock."""
    retired = await session.execute(
        update(FormulaVersion)
        .where(FormulaVersion.status == "active")
        .values(status="retired")
        .returning(FormulaVersion.version)
        .execution_options(synchronize_session=False)
    )
    previous = retired.scalar_one_or_none()
    await session.execute(
        update(FormulaVersion)
        .where(FormulaVersion.version == version)
        .values(status="active", activated_at=func.now(), activated_by=by)
        .execution_options(synchronize_session=False)
    )
    return previous
