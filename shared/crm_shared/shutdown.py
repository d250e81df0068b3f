"""Graceful shutdown on SIGTERM under uvicorn.

At once: /readyz answers 503 (load balancers and the gateway stop sending new requests) and the outbox
relay claims no more rows. The server goes on serving for `delay` seconds, for the callers that have not
noticed yet (what a preStop sleep does in Kubernetes; for a deploy without one). Then uvicorn stops
accepting connections, finishes the requests in flight (up to --timeout-graceful-shutdown) and runs the
lifespan shutdown. The process exits 0: the stop was asked for, not a failure (uvicorn's own handler
would re-raise SIGTERM once done, ending the process by the signal instead).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)


class GracefulShutdown:
    def __init__(self, on_drain: Callable[[], None], *, delay: float) -> None:
        self._on_drain = on_drain
        self._delay = delay
        self._server: Any = None
        self._previous: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False

    def install(self) -> bool:
        """Take over SIGTERM from the uvicorn server running this app. Nothing happens elsewhere (an app
        driven in-process by tests, another server): returns False."""
        if threading.current_thread() is not threading.main_thread():
            return False
        current = signal.getsignal(signal.SIGTERM)
        server = getattr(current, "__self__", None)
        if not hasattr(server, "should_exit"):  # not uvicorn.Server.handle_exit
            return False
        self._server, self._previous, self._loop = server, current, asyncio.get_running_loop()
        signal.signal(signal.SIGTERM, self._handle)
        return True

    def uninstall(self) -> None:
        if self._previous is not None and signal.getsignal(signal.SIGTERM) == self._handle:
            signal.signal(signal.SIGTERM, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # A signal handler interrupts the loop anywhere: only the thread-safe call touches it.
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._exit if self._draining else self._drain)
        self._draining = True

    def _drain(self) -> None:
        assert self._loop is not None
        log.info("SIGTERM: draining (readiness 503, outbox claims stopped); stopping in %.1f s", self._delay)
        self._on_drain()
        self._loop.call_later(self._delay, self._exit)

    def _exit(self) -> None:
        # What uvicorn's handler does, without recording the signal it would re-raise at the end.
        self._server.should_exit = True
