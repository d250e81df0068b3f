"""The preference page, public (`/public/campaigns/preferences/{token}`): the signed link from a message
is the only credential, as for unsubscribing (see crm_campaign.delivery.public on why it is outside /api/).

GET shows the form with what the customer service holds; POST (an HTML form, urlencoded) applies it. A
bad field answers 422 with the page naming it, and changes nothing."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from crm_shared.clients.customer import CustomerUnavailable

from ..delivery.links import InvalidLink, LinkClaims
from ..delivery.public import INVALID, PUBLIC_PREFIX
from ..delivery.runtime import DeliveryRuntime, delivery_runtime, signer_of
from . import service
from .page import FormErrors, parse_form, render_notice, render_page

router = APIRouter(prefix=PUBLIC_PREFIX, include_in_schema=False)
Runtime = Annotated[DeliveryRuntime, Depends(delivery_runtime)]
MAX_FORM_BYTES = 4096

UNAVAILABLE = HTMLResponse(
    render_notice("Please try again", "Your preferences cannot be shown or changed right now. Please try later."),
    status_code=503,
    headers={"Retry-After": "60"},
)
GONE = HTMLResponse(render_notice("Not found", "We hold no contact preferences for this link."), status_code=404)


def _claims(runtime: DeliveryRuntime, token: str) -> LinkClaims | None:
    try:
        return signer_of(runtime).verify("preferences", token)
    except InvalidLink:
        return None


@router.get("/preferences/{token}", response_class=HTMLResponse)
async def show_preferences(token: str, request: Request, runtime: Runtime) -> HTMLResponse:
    claims = _claims(runtime, token)
    if claims is None:
        return INVALID
    try:
        form = await service.current(runtime.consents, claims.customer)
    except CustomerUnavailable:
        return UNAVAILABLE
    except LookupError:
        return GONE
    return HTMLResponse(render_page(action=request.url.path, form=form))


@router.post("/preferences/{token}", response_class=HTMLResponse)
async def save_preferences(token: str, request: Request, runtime: Runtime) -> HTMLResponse:
    claims = _claims(runtime, token)
    if claims is None:
        return INVALID
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return HTMLResponse(render_notice("Too large", "The form sent is too large."), status_code=413)
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        wanted = parse_form(fields)
    except UnicodeDecodeError:
        return HTMLResponse(render_notice("Not understood", "The form was not sent as UTF-8."), status_code=400)
    except FormErrors as exc:
        try:
            shown = await service.current(runtime.consents, claims.customer)
        except (CustomerUnavailable, LookupError):
            shown = None
        page = render_page(action=request.url.path, form=shown, errors=exc.errors, message="Nothing was changed.")
        return HTMLResponse(page, status_code=422)
    try:
        saved = await service.save(
            request.app.state.sessionmaker, runtime.consents, claims.customer, wanted, submission=uuid.uuid4().hex
        )
    except CustomerUnavailable:
        return UNAVAILABLE
    except LookupError:
        return GONE
    return HTMLResponse(render_page(action=request.url.path, form=saved, message="Your preferences are saved."))
