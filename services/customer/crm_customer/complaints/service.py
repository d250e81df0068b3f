"""Complaint rules: taxonomy, SLAs, the open -> in_progress -> resolved -> closed workflow, reports.

Decisions:
- System categories can be deactivated and reactivated but keep their seeded label (409); keys never
  change. A deactivated category stays on the complaints that have it; new complaints and edits
  cannot use it.
- An SLA change applies to complaints opened (or reopened, or re-graded) after it; due dates already
  set are kept.
- A reopened complaint can no longer be a first-contact resolution; reopening clears the resolution.
- Report days are UTC days; `to` is inclusive.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.auth import Principal
from crm_shared.errors import FieldError, Unprocessable
from crm_shared.events import new_event
from crm_shared.pagination import decode_cursor, encode_cursor

from . import repository
from .exceptions import (
    CategoryExists,
    CategoryNotFound,
    ClosedComplaint,
    ComplaintNotFound,
    InvalidTransition,
    StaleComplaint,
    SystemCategoryLabel,
)
from .models import SEVERITIES, Complaint, ComplaintCategory, ComplaintSla
from .schemas import (
    CategoryCreate,
    CategoryUpdate,
    ComplaintDetail,
    ComplaintEventData,
    ComplaintFilters,
    ComplaintOpen,
    ComplaintRead,
    ComplaintTransition,
    ComplaintUpdate,
    DailyPoint,
    DailyReport,
    FirstContactResolutionReport,
    OverdueItem,
    OverdueReport,
    RepeatComplainant,
    RepeatComplainantsReport,
    StatusChangeRead,
)

SOURCE = "/services/customer"
MAX_DAILY_DAYS = 366
MAX_MERGE_HOPS = 10
# action -> (statuses it applies to, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "start": (("open",), "in_progress"),
    "resolve": (("open", "in_progress"), "resolved"),
    "close": (("resolved",), "closed"),
    "reopen": (("resolved", "closed"), "open"),
}
EVENT_TYPES = {
    "start": "complaint.started",
    "resolve": "complaint.resolved",
    "close": "complaint.closed",
    "reopen": "complaint.reopened",
}


def _now() -> datetime:
    return datetime.now(UTC)


def allowed_actions(status: str) -> list[str]:
    return [action for action, (sources, _) in TRANSITIONS.items() if status in sources]


# -- taxonomy and SLAs ---------------------------------------------------------------------------


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


async def _sla(session: AsyncSession, severity: str) -> timedelta:
    hours = await repository.sla_hours(session, severity)
    if hours is None:  # pragma: no cover - the migration seeds every severity
        raise Unprocessable(
            f"no SLA for severity {severity}", errors=[FieldError(detail="no SLA", pointer="#/severity")]
        )
    return timedelta(hours=hours)


# -- complaints ----------------------------------------------------------------------------------


def to_read(complaint: Complaint) -> ComplaintRead:
    return ComplaintRead.model_validate(complaint)


def _event(
    type_: str,
    complaint: Complaint,
    *,
    from_status: str | None,
    note: str | None = None,
    changed_by: str | None = None,
    changed: Sequence[str] = (),
) -> dict[str, Any]:
    data = ComplaintEventData(
        complaint=to_read(complaint),
        from_status=from_status,  # type: ignore[arg-type]
        to_status=complaint.status,  # type: ignore[arg-type]
        note=note,
        changed_by=changed_by,
        changed=list(changed),
    )
    return new_event(type_, source=SOURCE, subject=str(complaint.customer_id), data=data.model_dump(mode="json"))


async def _resolve_customer(session: AsyncSession, customer_id: uuid.UUID) -> list[uuid.UUID] | None:
    """The merge chain from the given id to its survivor (last), or None for an unknown customer."""
    chain = [customer_id]
    for _ in range(MAX_MERGE_HOPS):
        exists, merged_into = await repository.customer_merge_link(session, chain[-1])
        if not exists:
            return None
        if merged_into is None or merged_into in chain:
            return chain
        chain.append(merged_into)
    return chain


async def _check_category(session: AsyncSession, key: str) -> FieldError | None:
    category = await repository.get_category(session, key)
    if category is None:
        return FieldError(detail=f"unknown complaint category '{key}'", pointer="#/category")
    if not category.active:
        return FieldError(detail=f"the complaint category '{key}' is inactive", pointer="#/category")
    return None


async def open_complaint(session: AsyncSession, *, principal: Principal, data: ComplaintOpen) -> Complaint:
    now = _now()
    errors: list[FieldError] = []
    chain = await _resolve_customer(session, data.customer_id)
    if chain is None:
        errors.append(FieldError(detail=f"no customer with id {data.customer_id}", pointer="#/customer_id"))
    if data.contact_id is not None:
        owner = await repository.contact_customer(session, data.contact_id)
        if owner is None:
            errors.append(FieldError(detail=f"no contact with id {data.contact_id}", pointer="#/contact_id"))
        elif chain is not None and owner not in chain:
            errors.append(FieldError(detail="the contact belongs to another customer", pointer="#/contact_id"))
    if (bad_category := await _check_category(session, data.category)) is not None:
        errors.append(bad_category)
    opened_at = data.opened_at.astimezone(UTC) if data.opened_at else now
    if opened_at > now:
        errors.append(FieldError(detail="must not be in the future", pointer="#/opened_at"))
    if errors:
        raise Unprocessable("the complaint cannot be opened", errors=errors)
    assert chain is not None
    customer_id = chain[-1]
    complaint = await repository.add(
        session,
        {
            "customer_id": customer_id,
            "contact_id": data.contact_id,
            "category_key": data.category,
            "severity": data.severity,
            "channel": data.channel,
            "subject": data.subject,
            "description": data.description,
            "owner": data.owner,
            "status": "open",
            "opened_at": opened_at,
            "due_at": opened_at + await _sla(session, data.severity),
        },
    )
    await repository.add_status_change(
        session,
        complaint.id,
        from_status=None,
        to_status="open",
        note=None,
        changed_by=principal.client_id,
        changed_at=now,
    )
    await repository.tag_complainant(session, customer_id, principal.client_id)
    event = _event("complaint.opened", complaint, from_status=None, changed_by=principal.client_id)
    await outbox.publish(session, [event])
    return complaint


async def get(session: AsyncSession, complaint_id: uuid.UUID) -> Complaint:
    complaint = await repository.get(session, complaint_id)
    if complaint is None:
        raise ComplaintNotFound(complaint_id)
    return complaint


async def detail(session: AsyncSession, complaint: Complaint) -> ComplaintDetail:
    history = [StatusChangeRead.model_validate(h) for h in await repository.history(session, complaint.id)]
    return ComplaintDetail(**to_read(complaint).model_dump(), history=history)


async def _locked(session: AsyncSession, complaint_id: uuid.UUID, if_match: int | None) -> Complaint:
    complaint = await repository.get(session, complaint_id, for_update=True)
    if complaint is None:
        raise ComplaintNotFound(complaint_id)
    if if_match is not None and complaint.version != if_match:
        raise StaleComplaint(complaint.version)
    return complaint


def _only_for_resolve(data: ComplaintTransition) -> list[FieldError]:
    if data.action == "resolve":
        errors = []
        if data.resolution_note is None:
            errors.append(FieldError(detail="required to resolve", pointer="#/resolution_note"))
        if data.first_contact_resolution is None:
            errors.append(
                FieldError(detail="required to resolve (true or false)", pointer="#/first_contact_resolution")
            )
        return errors
    return [
        FieldError(detail="only with action resolve", pointer=f"#/{field}")
        for field in ("resolution_note", "first_contact_resolution")
        if getattr(data, field) is not None
    ]


async def transition(
    session: AsyncSession,
    *,
    principal: Principal,
    complaint_id: uuid.UUID,
    data: ComplaintTransition,
    if_match: int | None,
) -> Complaint:
    complaint = await _locked(session, complaint_id, if_match)
    sources, target = TRANSITIONS[data.action]
    if complaint.status not in sources:
        raise InvalidTransition(complaint.status, data.action, allowed_actions(complaint.status))
    errors = _only_for_resolve(data)
    if data.action == "resolve" and data.first_contact_resolution and complaint.reopen_count > 0:
        errors.append(
            FieldError(
                detail="a reopened complaint was not resolved at the first contact",
                pointer="#/first_contact_resolution",
            )
        )
    if errors:
        raise Unprocessable(f"cannot {data.action} the complaint", errors=errors)
    now = _now()
    values: dict[str, Any] = {"status": target}
    if data.action == "resolve":
        values |= {
            "resolved_at": now,
            "resolution_note": data.resolution_note,
            "first_contact_resolution": data.first_contact_resolution,
        }
    elif data.action == "close":
        values["closed_at"] = now
    elif data.action == "reopen":
        values |= {
            "reopen_count": complaint.reopen_count + 1,
            "resolved_at": None,
            "closed_at": None,
            "resolution_note": None,
            "first_contact_resolution": None,
            "due_at": now + await _sla(session, complaint.severity),
        }
    from_status = complaint.status
    note = data.note if data.note is not None else data.resolution_note
    await repository.update_fields(session, complaint, values)
    await repository.add_status_change(
        session,
        complaint.id,
        from_status=from_status,
        to_status=target,
        note=note,
        changed_by=principal.client_id,
        changed_at=now,
    )
    event = _event(
        EVENT_TYPES[data.action], complaint, from_status=from_status, note=note, changed_by=principal.client_id
    )
    await outbox.publish(session, [event])
    return complaint


async def update(
    session: AsyncSession,
    *,
    principal: Principal,
    complaint_id: uuid.UUID,
    data: ComplaintUpdate,
    if_match: int | None,
) -> Complaint:
    complaint = await _locked(session, complaint_id, if_match)
    if complaint.status == "closed":
        raise ClosedComplaint()
    changes = data.model_dump(exclude_unset=True)
    errors = [
        FieldError(detail="cannot be null", pointer=f"#/{field}")
        for field in ("category", "severity", "subject")
        if field in changes and changes[field] is None
    ]
    new_category = changes.get("category")
    if new_category is not None and new_category != complaint.category_key:
        bad_category = await _check_category(session, new_category)
        errors.extend([bad_category] if bad_category else [])
    if errors:
        raise Unprocessable("the complaint cannot be changed", errors=errors)
    columns = {"category": "category_key"}
    values = {
        columns.get(field, field): value
        for field, value in changes.items()
        if getattr(complaint, columns.get(field, field)) != value
    }
    if not values:
        return complaint
    changed = [field for field in changes if columns.get(field, field) in values]
    if "severity" in values:
        clock = await repository.last_reopened_at(session, complaint.id) if complaint.reopen_count else None
        values["due_at"] = (clock or complaint.opened_at) + await _sla(session, values["severity"])
        changed.append("due_at")
    await repository.update_fields(session, complaint, values)
    event = _event(
        "complaint.updated", complaint, from_status=complaint.status, changed_by=principal.client_id, changed=changed
    )
    await outbox.publish(session, [event])
    return complaint


def _check_range(start: datetime | date | None, end: datetime | date | None, names: tuple[str, str]) -> None:
    if start is not None and end is not None and start > end:
        raise Unprocessable(
            f"{names[0]} is after {names[1]}",
            errors=[FieldError(detail=f"must not be after {names[1]}", parameter=names[0])],
        )


async def list_complaints(
    session: AsyncSession,
    *,
    filters: ComplaintFilters,
    descending: bool,
    cursor: str | None,
    limit: int,
    secret: str,
) -> tuple[list[Complaint], str | None]:
    _check_range(filters.opened_from, filters.opened_to, ("opened_from", "opened_to"))
    binding = {**filters.model_dump(mode="json"), "desc": descending}
    after = None
    if cursor:
        after = decode_cursor(cursor, binding, secret, shape=(datetime, uuid.UUID))
    rows = await repository.list_page(session, filters, descending=descending, after=after, limit=limit, now=_now())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].opened_at.isoformat(), str(rows[-1].id)], binding, secret)
    return rows, next_cursor


# -- reports -------------------------------------------------------------------------------------


def _window(day_from: date | None, day_to: date | None, *, default_days: int) -> tuple[date, date, datetime, datetime]:
    day_to = day_to or _now().date()
    day_from = day_from or day_to - timedelta(days=default_days - 1)
    _check_range(day_from, day_to, ("from", "to"))
    start = datetime.combine(day_from, time.min, tzinfo=UTC)
    end = datetime.combine(day_to + timedelta(days=1), time.min, tzinfo=UTC)
    return day_from, day_to, start, end


async def daily_report(session: AsyncSession, *, day_from: date | None, day_to: date | None, by: str) -> DailyReport:
    day_from, day_to, start, end = _window(day_from, day_to, default_days=30)
    if (day_to - day_from).days + 1 > MAX_DAILY_DAYS:
        raise Unprocessable(
            f"the window is longer than {MAX_DAILY_DAYS} days",
            errors=[FieldError(detail=f"at most {MAX_DAILY_DAYS} days after from, inclusive", parameter="to")],
        )
    groups = list(SEVERITIES) if by == "severity" else await repository.report_categories(session, start, end)
    rows = await repository.daily_counts(
        session, day_from=day_from, day_to=day_to, start=start, end=end, by=by, groups=groups
    )
    points = [DailyPoint(day=day, group=group, count=count) for day, group, count in rows]
    return DailyReport(from_=day_from, to=day_to, by=by, groups=groups, points=points)  # type: ignore[arg-type]


async def first_contact_resolution_report(
    session: AsyncSession, *, day_from: date | None, day_to: date | None
) -> FirstContactResolutionReport:
    day_from, day_to, start, end = _window(day_from, day_to, default_days=30)
    resolved, first = await repository.first_contact_resolution(session, start, end)
    rate = round(first / resolved, 4) if resolved else None
    return FirstContactResolutionReport(from_=day_from, to=day_to, resolved=resolved, first_contact=first, rate=rate)


async def overdue_report(session: AsyncSession, *, limit: int) -> OverdueReport:
    now = _now()
    total, rows = await repository.overdue(session, now, limit)
    items = [
        OverdueItem(
            **to_read(c).model_dump(include=set(OverdueItem.model_fields) - {"hours_overdue"}),
            hours_overdue=round((now - c.due_at).total_seconds() / 3600, 2),
        )
        for c in rows
    ]
    return OverdueReport(as_of=now, total=total, items=items)


async def repeat_complainants_report(
    session: AsyncSession, *, min_complaints: int, window_days: int, limit: int
) -> RepeatComplainantsReport:
    since = _now() - timedelta(days=window_days)
    rows = await repository.repeat_complainants(session, since=since, min_complaints=min_complaints, limit=limit)
    return RepeatComplainantsReport(
        window_days=window_days,
        min_complaints=min_complaints,
        since=since,
        items=[RepeatComplainant(**r) for r in rows],
    )
