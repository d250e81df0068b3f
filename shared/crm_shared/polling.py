"""A background worker that claims work in passes: passes follow one another while there is a backlog, else
it waits for the poll interval or a wake-up (an endpoint that has just made work due wakes it after its
response). Stopping lets the pass under way finish, so what it sent is recorded, and cancels it only after a
grace period (leased rows are then taken up again once their lease ends). A database that cannot be reached
is logged once, when it goes, not with a traceback every pass. Campaign messages, webhook deliveries and the
customer service's name groups run on it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

from .errors import database_unavailable


class PollingWorker(ABC):
    def __init__(self, *, name: str, poll_seconds: float, stop_grace_seconds: float, log: logging.Logger) -> None:
        self._name = name
        self._poll_seconds = poll_seconds
        self._stop_grace = stop_grace_seconds
        self._log = log
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._unreachable = False  # the last pass found the database unreachable (logged once per outage)

    @abstractmethod
    async def pass_once(self) -> bool:
        """One pass; True when it claimed work (more may be due: the next pass starts at once)."""

    async def close(self) -> None:  # noqa: B027  (optional: most workers hold nothing to release)
        """Release what the worker holds (clients), after its last pass."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    def wake(self) -> None:
        self._wakeup.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self._stop_grace)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        await self.close()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                claimed = await self.pass_once()
            except Exception as exc:  # the database restarting, a bug in one batch: log, pause, go on
                if not database_unavailable(exc):
                    self._log.exception("%s pass failed", self._name)
                elif not self._unreachable:
                    self._log.warning("%s postponed, the database is not reachable: %s", self._name, type(exc).__name__)
                self._unreachable = database_unavailable(exc)
            else:
                self._unreachable = False
                if claimed:
                    continue
            self._wakeup.clear()
            if not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._poll_seconds)
