"""Win-back board: the open cases by phase with their owners, one case with its recommendation, actions
and the offer guard's answer, and the assessment (success rate, benefit against cost)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ..gateway import Answer, gather
from ..render import render
from ..session import CsrfChecked, Viewer, ViewerDep
from .filters import query

router = APIRouter(include_in_schema=False)
STATUSES = ("analysis", "implementation", "won", "lost", "excluded", "merged")
STRATEGIES = ("personal_conversation", "tailored_offer", "bulk_outreach")
PHASES = ("analysis", "implementation", "assessment")
REPORT_BY = ("month", "quarter", "reason", "strategy", "owner")


@router.get("/winback")
async def board(request: Request, viewer: ViewerDep) -> Response:
    api = viewer.gateway
    filters = query(request, "status", "owner", "strategy", "cursor")
    by = request.query_params.get("by") if request.query_params.get("by") in REPORT_BY else "month"
    answers = await gather(
        cases=api.get("/api/v1/churn/winback/cases", {**filters, "limit": 50}),
        report=api.get("/api/v1/churn/winback/report", {"by": by}),
        rules=api.get("/api/v1/churn/winback/rules"),
    )
    phases: dict[str, list[dict[str, object]]] = {phase: [] for phase in PHASES}
    for case in answers["cases"].get("items", []):
        phases.setdefault(case["phase"], []).append(case)
    return render(request, "winback.html", viewer=viewer, filters=filters, by=by, phases=phases,
                  statuses=STATUSES, strategies=STRATEGIES, report_by=REPORT_BY, **answers)  # fmt: skip


@router.get("/winback/cases/{case_id}")
async def case(request: Request, case_id: uuid.UUID, viewer: ViewerDep) -> Response:
    return await _case_page(request, viewer, case_id)


async def _case_page(
    request: Request, viewer: ViewerDep, case_id: uuid.UUID, outcome: Answer | None = None
) -> Response:
    api = viewer.gateway
    answers = await gather(
        case=api.get(f"/api/v1/churn/winback/cases/{case_id}"),
        rules=api.get("/api/v1/churn/winback/rules"),
    )
    status = 404 if answers["case"].problem and answers["case"].problem.status == 404 else 200
    if outcome is not None and outcome.problem:
        status = outcome.problem.status if outcome.problem.status < 500 else 502
    return render(request, "winback_case.html", status_code=status, viewer=viewer, case_id=case_id,
                  outcome=outcome, strategies=STRATEGIES, **answers)  # fmt: skip


@router.post("/winback/cases/{case_id}/assign", dependencies=[CsrfChecked])
async def assign(
    request: Request,
    case_id: uuid.UUID,
    viewer: ViewerDep,
    owner: Annotated[str, Form()],
    version: Annotated[int, Form()],
    strategy: Annotated[str, Form()] = "",
) -> Response:
    return await _act(request, viewer, case_id, "assign", {"owner": owner, "strategy": strategy or None}, version)


@router.post("/winback/cases/{case_id}/offers", dependencies=[CsrfChecked])
async def offer(
    request: Request,
    case_id: uuid.UUID,
    viewer: ViewerDep,
    value: Annotated[str, Form()],
    version: Annotated[int, Form()],
    note: Annotated[str, Form()] = "",
) -> Response:
    # Over the offer guard, the API's 422 says by how much: the case page shows it in words.
    return await _act(request, viewer, case_id, "offers", {"value": value, "note": note or None}, version)


async def _act(
    request: Request, viewer: Viewer, case_id: uuid.UUID, action: str, body: dict[str, Any], version: int
) -> Response:
    """One action on the case, at the version the form showed: back to the case, or the case with the refusal."""
    outcome = await viewer.gateway.post(f"/api/v1/churn/winback/cases/{case_id}/{action}", body, version=version)
    if outcome.ok:
        return RedirectResponse(f"/winback/cases/{case_id}", status_code=303)
    return await _case_page(request, viewer, case_id, outcome)
