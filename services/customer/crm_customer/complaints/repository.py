"""Every query of the complaints domain."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, func, not_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..contacts.models import Contact
from ..tags.models import CustomerTag
from .models import SEVERITIES, Complaint, ComplaintCategory, ComplaintSla, ComplaintStatusChange
from .schemas import ComplaintFilters

UNRESOLVED = ("open", "in_progress")
COMPLAINANT_TAG = "complainant"


# -- taxonomy and SLAs ---------------------------------------------------------------------------


async def list_categories(session: AsyncSession, *, include_inactive: bool) -> list[ComplaintCategory]:
    stmt = select(ComplaintCategory).order_by(ComplaintCategory.key)
    if not include_inactive:
        stmt = stmt.where(ComplaintCategory.active)
    return list((await session.execute(stmt)).scalars())


async def get_category(session: AsyncSession, key: str, *, for_update: bool = False) -> ComplaintCategory | None:
    stmt = select(ComplaintCategory).where(ComplaintCategory.key == key)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def insert_category(session: AsyncSession, key: str, label: str) -> ComplaintCategory | None:
    """The new category, or None when the key is taken."""
    stmt = (
        insert(ComplaintCategory)
        .values(key=key, label=label, system=False, active=True)
        .on_conflict_do_nothing()
        .returning(ComplaintCategory)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def update_category(session: AsyncSession, category: ComplaintCategory, values: dict[str, Any]) -> None:
    await session.execute(update(ComplaintCategory).where(ComplaintCategory.key == category.key).values(**values))
    await session.refresh(category)


async def list_slas(session: AsyncSession) -> list[ComplaintSla]:
    rows = list((await session.execute(select(ComplaintSla))).scalars())
    return sorted(rows, key=lambda s: SEVERITIES.index(s.severity))


async def sla_hours(session: AsyncSession, severity: str) -> int | None:
    stmt = select(ComplaintSla.resolve_within_hours).where(ComplaintSla.severity == severity)
    return (await session.execute(stmt)).scalar_one_or_none()


async def put_sla(session: AsyncSession, severity: str, hours: int) -> ComplaintSla:
    stmt = (
        insert(ComplaintSla)
        .values(severity=severity, resolve_within_hours=hours)
        .on_conflict_do_update(index_elements=[ComplaintSla.severity], set_={"resolve_within_hours": hours})
        .returning(ComplaintSla)
    )
    return (await session.execute(stmt, execution_options={"populate_existing": True})).scalar_one()


# -- customers and contacts ----------------------------------------------------------------------


async def contact_customer(session: AsyncSession, contact_id: uuid.UUID) -> uuid.UUID | None:
    return (await session.execute(select(Contact.customer_id).where(Contact.id == contact_id))).scalar_one_or_none()


async def tag_complainant(session: AsyncSession, customer_id: uuid.UUID, added_by: str) -> None:
    stmt = (
        insert(CustomerTag)
        .values(customer_id=customer_id, tag_key=COMPLAINANT_TAG, source="rule", added_by=added_by)
        .on_conflict_do_nothing()
    )
    await session.execute(stmt)


# -- complaints ----------------------------------------------------------------------------------


async def add(session: AsyncSession, values: dict[str, Any]) -> Complaint:
    complaint = Complaint(**values)
    session.add(complaint)
    await session.flush()
    await session.refresh(complaint)
    return complaint


async def add_status_change(
    session: AsyncSession,
    complaint_id: uuid.UUID,
    *,
    from_status: str | None,
    to_status: str,
    note: str | None,
    changed_by: str,
    changed_at: datetime,
) -> None:
    session.add(
        ComplaintStatusChange(
            complaint_id=complaint_id,
            from_status=from_status,
            to_status=to_status,
            note=note,
            changed_by=changed_by,
            changed_at=changed_at,
        )
    )
    await session.flush()


async def get(session: AsyncSession, complaint_id: uuid.UUID, *, for_update: bool = False) -> Complaint | None:
    stmt = select(Complaint).where(Complaint.id == complaint_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def history(session: AsyncSession, complaint_id: uuid.UUID) -> list[ComplaintStatusChange]:
    stmt = (
        select(ComplaintStatusChange)
        .where(ComplaintStatusChange.complaint_id == complaint_id)
        .order_by(ComplaintStatusChange.id)
    )
    return list((await session.execute(stmt)).scalars())


async def last_reopened_at(session: AsyncSession, complaint_id: uuid.UUID) -> datetime | None:
    stmt = select(func.max(ComplaintStatusChange.changed_at)).where(
        ComplaintStatusChange.complaint_id == complaint_id,
        ComplaintStatusChange.to_status == "open",
        ComplaintStatusChange.from_status.is_not(None),
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def update_fields(session: AsyncSession, complaint: Complaint, values: dict[str, Any]) -> Complaint:
    await session.execute(
        update(Complaint)
        .where(Complaint.id == complaint.id)
        .values(**values, version=Complaint.version + 1, updated_at=func.now())
    )
    await session.refresh(complaint)
    return complaint


def _overdue(now: datetime) -> Any:
    return and_(Complaint.status.in_(UNRESOLVED), Complaint.due_at < now)


def filtered(filters: ComplaintFilters, now: datetime) -> Select[Complaint]:
    """The complaints the filters select, unordered (the list pages them)."""
    stmt = select(Complaint)
    if filters.customer_id:
        stmt = stmt.where(Complaint.customer_id == filters.customer_id)
    if filters.status:
        stmt = stmt.where(Complaint.status.in_(filters.status))
    if filters.category:
        stmt = stmt.where(Complaint.category_key == filters.category)
    if filters.severity:
        stmt = stmt.where(Complaint.severity == filters.severity)
    if filters.owner:
        stmt = stmt.where(Complaint.owner == filters.owner)
    if filters.overdue is True:
        stmt = stmt.where(_overdue(now))
    elif filters.overdue is False:
        stmt = stmt.where(not_(_overdue(now)))
    if filters.opened_from:
        stmt = stmt.where(Complaint.opened_at >= filters.opened_from)
    if filters.opened_to:
        stmt = stmt.where(Complaint.opened_at < filters.opened_to)
    return stmt


# -- reports -------------------------------------------------------------------------------------

_DAILY = """
    SELECT d::date AS day, g.grp AS grp, coalesce(c.n, 0) AS n
    FROM generate_series(CAST(:day_from AS date), CAST(:day_to AS date), interval '1 day') AS d
    CROSS JOIN unnest(CAST(:groups AS text[])) WITH ORDINALITY AS g(grp, pos)
    LEFT JOIN (
        SELECT (opened_at AT TIME ZONE 'UTC')::date AS day, {column} AS grp, count(*) AS n
        FROM complaints
        WHERE opened_at >= :start AND opened_at < :end
        GROUP BY 1, 2
    ) AS c ON c.day = d::date AND c.grp = g.grp
    ORDER BY d, g.pos
"""
_GROUP_COLUMNS = {"category": "category_key", "severity": "severity"}


async def report_categories(session: AsyncSession, start: datetime, end: datetime) -> list[str]:
    """Active categories, and inactive ones that still had complaints in the window."""
    used = select(Complaint.category_key).where(Complaint.opened_at >= start, Complaint.opened_at < end)
    stmt = (
        select(ComplaintCategory.key)
        .where(ComplaintCategory.active | ComplaintCategory.key.in_(used))
        .order_by(ComplaintCategory.key)
    )
    return list((await session.execute(stmt)).scalars())


async def daily_counts(
    session: AsyncSession, *, day_from: date, day_to: date, start: datetime, end: datetime, by: str, groups: list[str]
) -> list[tuple[date, str, int]]:
    sql = text(_DAILY.format(column=_GROUP_COLUMNS[by]))
    params = {"day_from": day_from, "day_to": day_to, "start": start, "end": end, "groups": groups}
    return [(r.day, r.grp, r.n) for r in await session.execute(sql, params)]


async def first_contact_resolution(session: AsyncSession, start: datetime, end: datetime) -> tuple[int, int]:
    stmt = (
        select(func.count(), func.count().filter(Complaint.first_contact_resolution.is_(True)))
        .select_from(Complaint)
        .where(Complaint.resolved_at >= start, Complaint.resolved_at < end)
    )
    resolved, first = (await session.execute(stmt)).one()
    return resolved, first


async def overdue(session: AsyncSession, now: datetime, limit: int) -> tuple[int, list[Complaint]]:
    total = (await session.execute(select(func.count()).select_from(Complaint).where(_overdue(now)))).scalar_one()
    stmt = select(Complaint).where(_overdue(now)).order_by(Complaint.due_at, Complaint.id).limit(limit)
    return total, list((await session.execute(stmt)).scalars())


# Merged customers are few: their (id -> survivor) pairs come from ix_customers_merged_into as a small hash,
# and only the top `lim` survivors are joined for their names. Joining every complainant to `customers`,
# then every group back to it, read the whole customers table (694 ms at 1M customers and 100k complaints;
# this shape: 89 ms, the same rows).
_REPEAT = """
    WITH merged AS (SELECT id, merged_into FROM customers WHERE merged_into IS NOT NULL)
    SELECT s.id AS customer_id, s.display_name, r.complaints, r.high_or_critical, r.unresolved, r.last_at
    FROM (
        SELECT coalesce(m.merged_into, c.customer_id) AS customer_id,
               count(*) AS complaints,
               count(*) FILTER (WHERE c.severity IN ('high', 'critical')) AS high_or_critical,
               count(*) FILTER (WHERE c.status IN ('open', 'in_progress')) AS unresolved,
               max(c.opened_at) AS last_at
        FROM complaints c LEFT JOIN merged m ON m.id = c.customer_id
        WHERE c.opened_at >= :since
        GROUP BY 1
        HAVING count(*) >= :min_complaints
        ORDER BY complaints DESC, last_at DESC, customer_id
        LIMIT :lim
    ) AS r JOIN customers s ON s.id = r.customer_id
    ORDER BY r.complaints DESC, r.last_at DESC, s.id
"""


async def repeat_complainants(
    session: AsyncSession, *, since: datetime, min_complaints: int, limit: int
) -> list[dict[str, Any]]:
    """Complaints of merged customers count for their survivor."""
    params = {"since": since, "min_complaints": min_complaints, "lim": limit}
    rows = await session.execute(text(_REPEAT), params)
    return [
        {
            "customer_id": r.customer_id,
            "display_name": r.display_name,
            "complaints": r.complaints,
            "high_or_critical": r.high_or_critical,
            "unresolved": r.unresolved,
            "last_complaint_at": r.last_at,
        }
        for r in rows
    ]
