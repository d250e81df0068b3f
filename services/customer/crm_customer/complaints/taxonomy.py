"""Complaint taxonomy rules: the categories complaints are filed under, and the SLA of each severity.

Decisions:
- System categories can be deactivated and reactivated but keep their seeded label (409); keys never
  change. A deactivated category stays on the complaints that have it; new complaints and edits
  cannot use it.
- An SLA change applies to complaints opened (or reopened, or re-graded) after it; due dates already
  set are kept.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.errors import FieldError, Unprocessable

from . import repository
from .exceptions import CategoryExists, CategoryNotFound, SystemCategoryLabel
from .models import ComplaintCategory, ComplaintSla
from .schemas import CategoryCreate, CategoryUpdate


async def list_categories(session: AsyncSession, *, include_inactive: bool) -> list[ComplaintCategory]:
    return await repository.list_categories(session, include_inactive=include_inactive)


async def create_category(session: AsyncSession, data: CategoryCreate) -> ComplaintCategory:
    category = await repository.insert_category(session, data.key, data.label)
    if category is None:
        raise CategoryExists(data.key)
    return category


async def update_category(session: AsyncSession, key: str, data: CategoryUpdate) -> ComplaintCategory:
    category = await repository.get_category(session, key, for_update=True)
    if category is None:
        raise CategoryNotFound(key)
    changes = data.model_dump(exclude_unset=True)
    for field in ("label", "active"):
        if field in changes and changes[field] is None:
            raise Unprocessable(f"{field} cannot be null", errors=[FieldError(detail="not null", pointer=f"#/{field}")])
    values = {k: v for k, v in changes.items() if getattr(category, k) != v}
    if "label" in values and category.system:
        raise SystemCategoryLabel(key)
    if values:
        await repository.update_category(session, category, values)
    return category


async def list_slas(session: AsyncSession) -> list[ComplaintSla]:
    return await repository.list_slas(session)


async def put_sla(session: AsyncSession, severity: str, hours: int) -> ComplaintSla:
    return await repository.put_sla(session, severity, hours)


async def sla(session: AsyncSession, severity: str) -> timedelta:
    hours = await repository.sla_hours(session, severity)
    if hours is None:  # pragma: no cover - the migration seeds every severity
        raise Unprocessable(
            f"no SLA for severity {severity}", errors=[FieldError(detail="no SLA", pointer="#/severity")]
        )
    return timedelta(hours=hours)


async def check_category(session: AsyncSession, key: str) -> FieldError | None:
    category = await repository.get_category(session, key)
    if category is None:
        return FieldError(detail=f"unknown complaint category '{key}'", pointer="#/category")
    if not category.active:
        return FieldError(detail=f"the complaint category '{key}' is inactive", pointer="#/category")
    return None
