"""What delivery needs while the app runs (link signer, customer-service client, worker), started by the
lifespan of the delivery router (FastAPI merges a router's lifespan into the app's, after the app's own
has opened the database).

The link secrets (CAMPAIGN_LINK_SECRETS, no default) are checked here, when the app starts: a missing or
short one stops the start, naming the setting, like every other secret."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request

from crm_shared.auth import MIN_SECRET_BYTES, check_secret
from crm_shared.clients.customer import CustomerConsents
from crm_shared.errors import ServiceUnavailable

from ..config import Settings
from .links import LinkSigner
from .worker import DeliveryWorker

log = logging.getLogger("crm.campaign.delivery")


@dataclass
class DeliveryRuntime:
    settings: Settings
    signer: LinkSigner | None
    consents: CustomerConsents
    worker: DeliveryWorker | None


def link_signer(settings: Settings) -> LinkSigner | None:
    secrets = [s.get_secret_value() for s in settings.link_secrets]
    if not secrets or any(len(s.encode()) < MIN_SECRET_BYTES for s in secrets):
        return None
    return LinkSigner(secrets, ttl_seconds=settings.link_ttl_days * 86400)


@asynccontextmanager
async def delivery_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    signer = link_signer(settings)
    if signer is None:
        check_secret("CAMPAIGN_LINK_SECRETS", None)  # raises, naming the setting
    # A test or an in-process caller may hand the customer service over as an ASGI transport.
    consents = CustomerConsents(
        settings.customer_service_url,
        keys=settings.principal_key_values,
        caller=settings.service_name,
        transport=getattr(app.state, "customer_transport", None),
    )
    worker = None
    if signer is not None and settings.delivery_worker_enabled:
        worker = DeliveryWorker(app.state.sessionmaker, settings, signer, consents=consents)
        worker.start()
    app.state.delivery = DeliveryRuntime(settings=settings, signer=signer, consents=consents, worker=worker)
    try:
        yield
    finally:
        if worker is not None:
            await worker.stop()
        await consents.aclose()


def delivery_runtime(request: Request) -> DeliveryRuntime:
    runtime: DeliveryRuntime = request.app.state.delivery
    return runtime


def signer_of(runtime: DeliveryRuntime) -> LinkSigner:
    if runtime.signer is None:
        raise ServiceUnavailable("links are not configured on this server")
    return runtime.signer
