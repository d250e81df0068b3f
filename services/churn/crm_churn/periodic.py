"""Periodic jobs run in the app's lifespan (a router carries one, so including the router starts it): the
win-back sweep and the churn-rate ledger's compaction. A failed pass is logged and retried at the next."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

Job = Callable[[async_sessionmaker[Any]], Awaitable[object]]


def every(
    setting: str, default: float, job: Job, log: logging.Logger
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan running `job` every `settings.<setting>` seconds (0: never) once the app's own lifespan
    has built its engine, stopped on shutdown."""

    async def loop(sessionmaker: async_sessionmaker[Any], seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job(sessionmaker)
            except Exception:
                log.exception("%s failed", job.__name__)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        seconds = float(getattr(app.state.settings, setting, default))
        sessionmaker = getattr(app.state, "sessionmaker", None)
        task = asyncio.create_task(loop(sessionmaker, seconds)) if sessionmaker is not None and seconds > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return lifespan
