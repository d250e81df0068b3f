"""One-click unsubscribe (RFC 8058), public: the signed link is the only credential.

`POST /public/campaigns/unsubscribe/{token}` is what a mail client sends for `List-Unsubscribe-Post:
List-Unsubscribe=One-Click` (and what the confirmation page's button sends): the opt-out takes effect in
this service at once and is recorded in the customer service. `GET` only shows that button: link scanners
fetch URLs in mail, and a GET must never unsubscribe anyone.

These routes live outside /api/ on purpose: no principal token (the customer has no login) and no
`allow()` declaration; the gateway must route exactly `/public/campaigns/` here without authentication."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ..preferences.page import render_notice
from . import consent_forwards
from .links import InvalidLink
from .runtime import DeliveryRuntime, delivery_lifespan, delivery_runtime, signer_of

PUBLIC_PREFIX = "/public/campaigns"
Runtime = Annotated[DeliveryRuntime, Depends(delivery_runtime)]
FORWARD_WAIT_SECONDS = 3.0
CHANNEL_NAMES = {"email": "emails", "sms": "text messages", "mail": "letters", "phone": "calls"}

router = APIRouter(prefix=PUBLIC_PREFIX, include_in_schema=False, lifespan=delivery_lifespan)

INVALID = HTMLResponse(
    render_notice("Link not valid", "This link is not valid or has expired. Use the link in a newer message."),
    status_code=400,
)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def confirm_unsubscribe(token: str, runtime: Runtime) -> HTMLResponse:
    try:
        claims = signer_of(runtime).verify("unsubscribe", token)
    except InvalidLink:
        return INVALID
    what = CHANNEL_NAMES.get(claims.channel, claims.channel)
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">'
        f"<title>Unsubscribe</title></head><body><main><h1>Unsubscribe</h1>"
        f"<p>Stop marketing {what} from us?</p>"
        f'<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        f'<button type="submit">Unsubscribe</button></form></main></body></html>'
    )
    return HTMLResponse(html)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request, runtime: Runtime) -> HTMLResponse:
    try:
        claims = signer_of(runtime).verify("unsubscribe", token)
    except InvalidLink:
        return INVALID
    sessions = request.app.state.sessionmaker
    async with sessions() as session, session.begin():
        forward_id = await consent_forwards.record(
            session,
            customer_id=claims.customer,
            channel=claims.channel,
            status="opted_out",
            source="unsubscribe link",
            campaign_id=claims.campaign,
        )
    # Effective here already; recorded in the customer service now if it answers quickly (a mail provider's
    # one-click POST does not wait long), else by the worker's retries: the forward row stays pending.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(FORWARD_WAIT_SECONDS):
            await consent_forwards.forward(sessions, runtime.consents, only=forward_id)
    what = CHANNEL_NAMES.get(claims.channel, claims.channel)
    return HTMLResponse(render_notice("Unsubscribed", f"You will get no more marketing {what} from us."))
