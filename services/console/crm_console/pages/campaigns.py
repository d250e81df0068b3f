"""Campaigns: the list, a segment builder with a live count, campaign setup with its control share, launch,
and the results: conversion per group, the uplift with its interval and the sample-ratio check."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ..gateway import gather
from ..render import render
from ..session import CsrfChecked, ViewerDep
from .filters import query
from .writes import refused

router = APIRouter(include_in_schema=False)
STATUSES = ("draft", "launched", "cancelled")
OBJECTIVES = ("retention", "win_back", "cross_sell", "reactivation")
CHANNELS = ("email", "sms", "mail", "phone")
CONDITIONS = 4  # rows of the builder; combined with and / or
LISTS = ("in", "not_in")


def rules_from(form: Any) -> dict[str, Any] | None:
    """The builder's rows as the API's rule tree: {"and"|"or": [conditions]}; None when no row is filled."""
    conditions: list[dict[str, Any]] = []
    for i in range(CONDITIONS):
        field, op = form.get(f"field_{i}") or "", form.get(f"op_{i}") or ""
        if not field or not op:
            continue
        raw = str(form.get(f"value_{i}") or "").strip()
        value: Any = raw
        if op in LISTS or op == "between":
            value = [v.strip() for v in raw.split(",") if v.strip()]
        elif raw in ("true", "false"):
            value = raw == "true"
        condition: dict[str, Any] = {"field": field, "op": op}
        if op not in ("is_null", "is_not_null"):
            condition["value"] = value
        conditions.append(condition)
    if not conditions:
        return None
    return {"or" if form.get("combine") == "or" else "and": conditions}


@router.get("/campaigns")
async def campaigns(request: Request, viewer: ViewerDep) -> Response:
    api = viewer.gateway
    filters = query(request, "status", "objective", "cursor")
    answers = await gather(
        campaigns=api.get("/api/v1/campaigns", {**filters, "limit": 25}),
        segments=api.get("/api/v1/segments", {"limit": 100}),
        fields=api.get("/api/v1/segments/fields"),
    )
    return render(request, "campaigns.html", viewer=viewer, filters=filters, statuses=STATUSES,
                  objectives=OBJECTIVES, channels=CHANNELS, rows=range(CONDITIONS), **answers)  # fmt: skip


@router.post("/campaigns/segments/preview", dependencies=[CsrfChecked])
async def preview(request: Request, viewer: ViewerDep) -> Response:
    """The builder's live count (an HTMX fragment)."""
    rules = rules_from(await request.form())
    answer = None
    if rules is not None:
        answer = await viewer.gateway.post("/api/v1/segments/preview", {"rules": rules, "sample": 5}, write=False)
    return render(request, "fragments/segment_count.html", preview=answer)


@router.post("/campaigns/segments", dependencies=[CsrfChecked])
async def create_segment(request: Request, viewer: ViewerDep) -> Response:
    form = await request.form()
    rules = rules_from(form)
    body = {"name": str(form.get("name") or "").strip(), "rules": rules or {}, "mode": form.get("mode") or "dynamic"}
    outcome = await viewer.gateway.post("/api/v1/segments", body)
    if outcome.ok:
        return RedirectResponse(f"/campaigns?segment={outcome.get('id')}#setup", status_code=303)
    return refused(request, viewer, outcome, "The segment was not saved", "/campaigns#builder")


@router.post("/campaigns", dependencies=[CsrfChecked])
async def create_campaign(
    request: Request,
    viewer: ViewerDep,
    name: Annotated[str, Form()],
    objective: Annotated[str, Form()],
    segment_id: Annotated[str, Form()],
    channel: Annotated[str, Form()],
    template: Annotated[str, Form()],
    control_share: Annotated[str, Form()] = "0.1",
    cost_per_contact: Annotated[str, Form()] = "0",
    subject: Annotated[str, Form()] = "",
) -> Response:
    body = {"name": name, "objective": objective, "segment_id": segment_id, "channel": channel,
            "template": template, "subject": subject or None, "control_share": control_share,
            "cost_per_contact": cost_per_contact}  # fmt: skip
    outcome = await viewer.gateway.post("/api/v1/campaigns", body)
    if outcome.ok:
        return RedirectResponse(f"/campaigns/{outcome.get('id')}", status_code=303)
    return refused(request, viewer, outcome, "The campaign was not created", "/campaigns#setup")


@router.get("/campaigns/{campaign_id}")
async def campaign(request: Request, campaign_id: uuid.UUID, viewer: ViewerDep) -> Response:
    api = viewer.gateway
    answers = await gather(
        campaign=api.get(f"/api/v1/campaigns/{campaign_id}"),
        results=api.get(f"/api/v1/campaigns/{campaign_id}/results"),
    )
    status = 404 if answers["campaign"].problem and answers["campaign"].problem.status == 404 else 200
    return render(request, "campaign.html", status_code=status, viewer=viewer, campaign_id=campaign_id, **answers)


@router.post("/campaigns/{campaign_id}/launch", dependencies=[CsrfChecked])
async def launch(request: Request, campaign_id: uuid.UUID, viewer: ViewerDep) -> Response:
    outcome = await viewer.gateway.post(f"/api/v1/campaigns/{campaign_id}/launch")
    if outcome.ok:
        return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)
    return refused(request, viewer, outcome, "The campaign was not launched", f"/campaigns/{campaign_id}")
