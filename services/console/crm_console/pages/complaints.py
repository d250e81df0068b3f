"""Complaints: opened per day by category (or another grouping), the overdue list, first-contact
resolution, and the complaints list with its filters."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..gateway import gather
from ..render import render
from ..session import ViewerDep
from .filters import query

router = APIRouter(include_in_schema=False)
STATUSES = ("open", "in_progress", "resolved", "closed")
SEVERITIES = ("low", "medium", "high", "critical")
GROUP_BY = ("category", "severity")


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
