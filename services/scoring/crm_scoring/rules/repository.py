"""Reading and writing rule sets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import RuleSet
from .schemas import Rules


async def load_rules(session: AsyncSession) -> Rules:
    """All rule sets in force. A rule set missing from the table falls back to its default."""
    rows = (await session.execute(select(RuleSet.name, RuleSet.rules))).all()
    return Rules.model_validate({name: rules for name, rules in rows})


async def get(session: AsyncSession, name: str, *, for_update: bool = False) -> RuleSet | None:
    """for_update: to check the version (If-Match) and replace it without a concurrent change between."""
    if not for_update:
        return await session.get(RuleSet, name)
    stmt = select(RuleSet).where(RuleSet.name == name).with_for_update()
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def all_rule_sets(session: AsyncSession) -> list[RuleSet]:
    return list((await session.scalars(select(RuleSet).order_by(RuleSet.name))).all())


async def replace(session: AsyncSession, name: str, rules: dict[str, Any], *, by: str | None, version: int) -> RuleSet:
    """Store a new version of a rule set; the caller checked `version` is the current one (If-Match)."""
    await session.execute(
        update(RuleSet)
        .where(RuleSet.name == name, RuleSet.version == version)
        .values(rules=rules, version=RuleSet.version + 1, updated_at=func.now(), updated_by=by)
    )
    row = await session.get(RuleSet, name, populate_existing=True)
    assert row is not None
    return row


async def insert(session: AsyncSession, name: str, rules: dict[str, Any], *, by: str | None) -> RuleSet | None:
    """Store the first version of a rule set the table lacks; None when someone stored it meanwhile."""
    stmt = (
        pg_insert(RuleSet)
        .values(name=name, rules=rules, version=1, updated_by=by)
        .on_conflict_do_nothing()
        .returning(RuleSet)
    )
    return (await session.execute(stmt)).scalar_one_or_none()
