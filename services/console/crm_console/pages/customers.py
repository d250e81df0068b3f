"""Customers: the scored base with the scoring API's filters (where every figure elsewhere links to), a
search by name or contact, and one customer's 360 view."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from ..gateway import gather
from ..render import render
from ..session import CsrfChecked, ViewerDep
from .filters import query
from .writes import done_or_refused

router = APIRouter(include_in_schema=False)
SCORE_FILTERS = (
    "stage", "abc_class", "rfm_segment", "gold", "drag", "clv_min", "clv_max", "p_alive_min", "p_alive_max",
    "churn_risk_min", "churn_risk_max", "composite_min", "composite_max", "sort", "cursor",
)  # fmt: skip
SORTS = ("-clv", "clv", "-composite_score", "composite_score", "-churn_risk", "churn_risk")
PAGE = 25
PHONE = re.compile(r"\+?[\d\s().-]{6,}")


@router.get("/customers")
async def customers(request: Request, viewer: ViewerDep) -> Response:
    api = viewer.gateway
    filters = query(request, *SCORE_FILTERS, lists=("stage", "abc_class", "rfm_segment"))
    search = request.query_params.get("q", "").strip()
    if search:  # the customer service's search: an exact email or phone, else a part of the name
        found = await api.get(
            "/api/v1/customers", {search_field(search): search, "cursor": filters.get("cursor"), "limit": PAGE}
        )
        return render(request, "customers.html", viewer=viewer, search=search, found=found, filters={}, sorts=SORTS)
    answers = await gather(
        page=api.get("/api/v1/scores/customers", {**filters, "limit": PAGE}),
        count=api.get(
            "/api/v1/scores/customers/count", {k: v for k, v in filters.items() if k not in ("sort", "cursor")}
        ),
    )
    return render(request, "customers.html", viewer=viewer, search="", filters=filters, sorts=SORTS, **answers)


def search_field(text: str) -> str:
    if "@" in text:
        return "email"
    if PHONE.fullmatch(text):
        return "phone"
    return "q"


@router.get("/customers/{customer_id}")
async def customer_360(request: Request, customer_id: uuid.UUID, viewer: ViewerDep) -> Response:
    api = viewer.gateway
    by_customer = {"customer_id": str(customer_id)}
    answers = await gather(
        customer=api.get(f"/api/v1/customers/{customer_id}"),
        scores=api.get(f"/api/v1/scores/customers/{customer_id}"),
        explain=api.get(f"/api/v1/scores/customers/{customer_id}/explain"),
        stages=api.get(f"/api/v1/scores/customers/{customer_id}/stages", {"limit": 20}),
        timeline=api.get(
            f"/api/v1/customers/{customer_id}/timeline",
            {"limit": 20, "cursor": request.query_params.get("timeline_cursor")},
        ),
        complaints=api.get("/api/v1/complaints", {**by_customer, "limit": 20}),
        consents=api.get(f"/api/v1/customers/{customer_id}/consents"),
        records=api.get("/api/v1/churn/records", {**by_customer, "limit": 10}),
        cases=api.get("/api/v1/churn/winback/cases", {**by_customer, "limit": 10}),
        watch=api.get(f"/api/v1/churn/watchlist/{customer_id}"),
    )
    status = 404 if answers["customer"].problem and answers["customer"].problem.status == 404 else 200
    return render(request, "customer.html", status_code=status, viewer=viewer, customer_id=customer_id, **answers)


@router.post("/customers/{customer_id}/consents/{channel}", dependencies=[CsrfChecked])
async def set_consent(
    request: Request,
    customer_id: uuid.UUID,
    channel: Literal["email", "sms", "mail", "phone"],
    viewer: ViewerDep,
    status: Annotated[str, Form()],
    source: Annotated[str, Form()] = "console",
) -> Response:
    """Grant or withdraw the customer's consent to a channel, effective at once (the customer API)."""
    outcome = await viewer.gateway.put(
        f"/api/v1/customers/{customer_id}/consents/{channel}", {"status": status, "source": source}
    )
    back = f"/customers/{customer_id}#consents"
    return done_or_refused(request, viewer, outcome, "The consent was not changed", back)
