"""Win-back board: the open cases by phase with their owners, one case with its recommendation, actions
and the offer guard's answer, and the assessment (success rate, benefit against cost)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from ..gateway import Answer, gather
from ..render import render
from ..session import CsrfChecked, ViewerDep
from .filters import query

router = APIRouter(include_in_schema=False)
STATUSES = ("analysis", "implementation", "won", "lost", "excluded", "merged")
STRATEGIES = ("personal_conversation", "tailored_offer", "bulk_outreach")
PHASES = ("analysis", "implementation", "assessment")
REPORT_BY = ("month", "quarter", "reason", "strategy", "owner")
ACTION_KINDS = ("personal_conversation", "bulk_outreach")


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
                  outcome=outcome, strategies=STRATEGIES, action_kinds=ACTION_KINDS, **answers)  # fmt: skip


def _text(form: FormData, name: str) -> str | None:
    """A form field, trimmed; None when empty (the API's default then)."""
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


# Each case action the API offers: the body its form makes (the API validates every field and names the bad
# one). `offers` over the offer guard: the API's 422 says by how much, the case page shows it in words.
BODIES: dict[str, Callable[[FormData], dict[str, Any] | None]] = {
    "assign": lambda f: {"owner": _text(f, "owner") or "", "strategy": _text(f, "strategy")},
    "offers": lambda f: {"value": _text(f, "value") or "", "note": _text(f, "note")},
    "actions": lambda f: {"kind": _text(f, "kind") or "", "note": _text(f, "note"), "cost": _text(f, "cost") or "0"},
    "exclude": lambda f: {"reason": _text(f, "reason") or ""},
    "include": lambda f: {"note": _text(f, "note")},
    "reassess": lambda f: None,
    "close": lambda f: {"note": _text(f, "note")},
}


@router.post("/winback/cases/{case_id}/{action}", dependencies=[CsrfChecked])
async def act(request: Request, case_id: uuid.UUID, action: str, viewer: ViewerDep) -> Response:
    """One move on the case (assign, record a contact, offer, exclude, include, reassess, close) at the version
    the form showed (If-Match): back to the case, or the case with the API's refusal in words."""
    back = f"/winback/cases/{case_id}"
    form = await request.form()
    version = _text(form, "version")
    if action not in BODIES or version is None or not version.isdigit():
        problem = f"A case has no action {action!r}." if action not in BODIES else "The form lost its version."
        return render(request, "error.html", status_code=404 if action not in BODIES else 422, viewer=viewer,
                      title="Not done", detail=problem, back=back)  # fmt: skip
    body = BODIES[action](form)
    outcome = await viewer.gateway.post(f"/api/v1/churn/winback/cases/{case_id}/{action}", body, version=int(version))
    if outcome.ok:
        return RedirectResponse(back, status_code=303)
    return await _case_page(request, viewer, case_id, outcome)
