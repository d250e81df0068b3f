"""Complaints: opened per day by category (or another grouping), the overdue list, first-contact
resolution, and the complaints list with its filters."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from ..gateway import gather
from ..render import TEMPLATES, render
from ..session import CsrfChecked, ViewerDep
from .filters import query
from .writes import done_or_refused

router = APIRouter(include_in_schema=False)
STATUSES = ("open", "in_progress", "resolved", "closed")
SEVERITIES = ("low", "medium", "high", "critical")
GROUP_BY = ("category", "severity")
# The complaint workflow (the customer service's complaints/service.py TRANSITIONS): the moves a status
# offers. The API decides; this only picks the buttons (a stale one ends in its 409, in words).
MOVES: dict[str, tuple[str, ...]] = {
    "open": ("start", "resolve"),
    "in_progress": ("resolve",),
    "resolved": ("close", "reopen"),
    "closed": ("reopen",),
}


@router.get("/complaints")
async def complaints(request: Request, viewer: ViewerDep) -> Response:
    api = viewer.gateway
    period = query(request, "from", "to")
    by = request.query_params.get("by") if request.query_params.get("by") in GROUP_BY else "category"
    filters = query(request, "status", "category", "severity", "owner", "overdue", "cursor", lists=("status",))
    answers = await gather(
        daily=api.get("/api/v1/complaints/reports/daily", {**period, "by": by}),
        overdue=api.get("/api/v1/complaints/reports/overdue", {"limit": 10}),
        fcr=api.get("/api/v1/complaints/reports/first-contact-resolution", period),
        complaints=api.get("/api/v1/complaints", {**filters, "limit": 25}),
        categories=api.get("/api/v1/complaints/categories"),
    )
    return render(request, "complaints.html", viewer=viewer, period=period, by=by, filters=filters,
                  statuses=STATUSES, severities=SEVERITIES, group_by=GROUP_BY, **answers)  # fmt: skip


@router.post("/complaints/{complaint_id}/transitions", dependencies=[CsrfChecked])
async def transition(
    request: Request,
    complaint_id: uuid.UUID,
    viewer: ViewerDep,
    action: Annotated[str, Form()],
    version: Annotated[int, Form()],
    back: Annotated[str, Form()] = "/complaints",
    note: Annotated[str, Form()] = "",
    resolution_note: Annotated[str, Form()] = "",
    first_contact_resolution: Annotated[str, Form()] = "",
) -> Response:
    """Start, resolve (with its resolution and whether the first contact solved it), close or reopen, at
    the version the form showed (If-Match)."""
    body: dict[str, Any] = {"action": action, "note": note.strip() or None}
    if action == "resolve":
        body["resolution_note"] = resolution_note.strip() or None
        body["first_contact_resolution"] = {"yes": True, "no": False}.get(first_contact_resolution)
    outcome = await viewer.gateway.post(f"/api/v1/complaints/{complaint_id}/transitions", body, version=version)
    return done_or_refused(request, viewer, outcome, "The complaint was not changed", back)


TEMPLATES.env.globals.update(complaint_moves=MOVES)
