"""Complaint workflow rules: open -> in_progress -> resolved -> closed (and reopen), edits, reads, events.
The taxonomy and SLAs a complaint is checked against are in taxonomy.py; the reports in reports.py.

Decisions:
- A reopened complaint can no longer be a first-contact resolution; reopening clears the resolution.
- A severity change recomputes due_at from the start of the current SLA clock (opened, or last reopened).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.auth import Principal
from crm_shared.errors import FieldError, Unprocessable
from crm_shared.pagination import Page, PageRequest

from ..customers import service as customers
from ..events import envelope
from . import repository, taxonomy
from .exceptions import ClosedComplaint, ComplaintNotFound, InvalidTransition, StaleComplaint
from .models import Complaint
from .schemas import (
    ComplaintDetail,
    ComplaintFilters,
    ComplaintOpen,
    ComplaintRead,
    ComplaintTransition,
    ComplaintUpdate,
    StatusChangeRead,
)

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
    data = {
        "complaint": to_read(complaint).model_dump(mode="json"),
        "from_status": from_status,
        "to_status": complaint.status,
        "note": note,
        "changed_by": changed_by,
        "changed": list(changed),
    }
    return envelope(type_, subject=complaint.customer_id, data=data)


async def open_complaint(session: AsyncSession, *, principal: Principal, data: ComplaintOpen) -> Complaint:
    now = _now()
    errors: list[FieldError] = []
    # A merged id stands for its survivor, which the complaint is filed against.
    live = await customers.live_ids(session, [data.customer_id])
    customer_id = live.get(data.customer_id)
    if customer_id is None:
        errors.append(FieldError(detail=f"no customer with id {data.customer_id}", pointer="#/customer_id"))
    if data.contact_id is not None:
        owner = await repository.contact_customer(session, data.contact_id)
        if owner is None:
            errors.append(FieldError(detail=f"no contact with id {data.contact_id}", pointer="#/contact_id"))
        elif customer_id is not None and owner not in (data.customer_id, customer_id):
            errors.append(FieldError(detail="the contact belongs to another customer", pointer="#/contact_id"))
    if (bad_category := await taxonomy.check_category(session, data.category)) is not None:
        errors.append(bad_category)
    opened_at = data.opened_at.astimezone(UTC) if data.opened_at else now
    if opened_at > now:
        errors.append(FieldError(detail="must not be in the future", pointer="#/opened_at"))
    if errors:
        raise Unprocessable("the complaint cannot be opened", errors=errors)
    assert customer_id is not None
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
            "due_at": opened_at + await taxonomy.sla(session, data.severity),
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
            "due_at": now + await taxonomy.sla(session, complaint.severity),
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
        bad_category = await taxonomy.check_category(session, new_category)
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
        values["due_at"] = (clock or complaint.opened_at) + await taxonomy.sla(session, values["severity"])
        changed.append("due_at")
    await repository.update_fields(session, complaint, values)
    event = _event(
        "complaint.updated", complaint, from_status=complaint.status, changed_by=principal.client_id, changed=changed
    )
    await outbox.publish(session, [event])
    return complaint


def check_range(start: datetime | date | None, end: datetime | date | None, names: tuple[str, str]) -> None:
    if start is not None and end is not None and start > end:
        raise Unprocessable(
            f"{names[0]} is after {names[1]}",
            errors=[FieldError(detail=f"must not be after {names[1]}", parameter=names[0])],
        )


async def list_complaints(
    session: AsyncSession, *, filters: ComplaintFilters, descending: bool, page: PageRequest
) -> Page[ComplaintRead]:
    check_range(filters.opened_from, filters.opened_to, ("opened_from", "opened_to"))
    order = (Complaint.opened_at, Complaint.id)
    return await page.fetch(
        session,
        repository.filtered(filters, _now()),
        order=[c.desc() if descending else c.asc() for c in order],
        binding=filters.model_dump(mode="json"),
        item=to_read,
    )
