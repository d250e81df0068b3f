"""Reading and writing rule sets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import RuleSet
from .schemas import Rules


async def load_rules(session: AsyncSession) -> Rules:
    """All rule sets in force. A rule set missing from the table falls back to its default."""
    rows = (await session.execute(select(RuleSet.name, RuleSet.rules))).all()
    return Rules.model_validate({name: rules for name, rules in rows})


async def get(session: AsyncSession, name: str) -> RuleSet | None:
    return await session.get(RuleSet, name)


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
