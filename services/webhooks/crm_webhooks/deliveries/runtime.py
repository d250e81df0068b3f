"""The delivery worker's life in the app: started by the lifespan of the deliveries router (FastAPI merges
a router's lifespan into the app's, after the app's own has opened the database), stopped before the
database closes. A test may hand over a transport (`app.state.webhook_transport`) or turn it off
(WEBHOOKS_WORKER_ENABLED=false) and drive passes itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import BackgroundTasks, Depends, FastAPI, Request

from ..config import Settings
from .worker import DeliveryWorker


@asynccontextmanager
async def worker_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    worker = None
    if settings.worker_enabled:
        worker = DeliveryWorker(
            app.state.sessionmaker, settings, transport=getattr(app.state, "webhook_transport", None)
        )
        worker.start()
    app.state.webhook_worker = worker
    try:
        yield
    finally:
        if worker is not None:
            await worker.stop()


def _wake_after_response(request: Request, tasks: BackgroundTasks) -> None:
    """An endpoint that makes deliveries due: once its response is sent (its transaction committed), the
    worker's next pass starts at once rather than at its next poll."""
    worker: DeliveryWorker | None = getattr(request.app.state, "webhook_worker", None)
    if worker is not None:
        tasks.add_task(worker.wake)


WakeWorker = Annotated[None, Depends(_wake_after_response)]
