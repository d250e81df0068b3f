"""The shared polling worker: passes back to back while there is work, a wake-up instead of the poll
interval, a failed pass logged and survived, and a stop that lets the pass under way finish (or cancels it
after the grace period)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg
import pytest

from crm_shared.polling import PollingWorker
from crm_shared.testing import eventually


class Recorder(PollingWorker):
    def __init__(self, backlog: int, *, poll: float = 60.0, grace: float = 5.0, pass_seconds: float = 0.0) -> None:
        super().__init__(name="test-worker", poll_seconds=poll, stop_grace_seconds=grace, log=logging.getLogger("t"))
        self.backlog = backlog
        self.passes = 0
        self.finished = 0
        self.fail_next = False
        self.unreachable_passes = 0  # passes that find the database down
        self.closed = False
        self.pass_seconds = pass_seconds

    async def pass_once(self) -> bool:
        self.passes += 1
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("boom")
        if self.unreachable_passes:
            self.unreachable_passes -= 1
            raise asyncpg.CannotConnectNowError("the database system is starting up")
        await asyncio.sleep(self.pass_seconds)
        self.finished += 1
        if self.backlog:
            self.backlog -= 1
            return True
        return False

    async def close(self) -> None:
        self.closed = True


async def until(condition: Callable[[], bool]) -> None:
    async def check() -> bool:
        return condition()

    await eventually(check, within=5)


async def test_a_backlog_runs_back_to_back_then_a_wakeup_starts_the_next_pass() -> None:
    worker = Recorder(backlog=3)  # a 60 s poll: only a backlog or a wake-up can start passes quickly
    worker.start()
    await until(lambda: worker.passes == 4)  # three that claimed work, one that found none
    await asyncio.sleep(0.05)
    assert worker.passes == 4
    worker.backlog = 1
    worker.wake()
    await until(lambda: worker.passes == 6)
    await worker.stop()
    assert worker.closed


async def test_a_failed_pass_is_logged_and_the_worker_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    worker = Recorder(backlog=0, poll=0.01)
    worker.fail_next = True
    worker.start()
    await until(lambda: worker.finished >= 2)
    await worker.stop()
    assert "test-worker pass failed" in caplog.text


async def test_an_unreachable_database_is_logged_once_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    worker = Recorder(backlog=0, poll=0.01)
    worker.unreachable_passes = 5
    worker.start()
    await until(lambda: worker.finished >= 1)  # the outage over: passes succeed again
    worker.unreachable_passes = 3  # a second outage
    await until(lambda: worker.unreachable_passes == 0 and worker.finished >= 2)
    await worker.stop()
    warnings = [r for r in caplog.records if "postponed, the database is not reachable" in r.getMessage()]
    assert len(warnings) == 2  # one line per outage
    assert all(r.exc_info is None for r in warnings)
    assert "pass failed" not in caplog.text  # no traceback per pass


async def test_stop_lets_the_pass_under_way_finish() -> None:
    worker = Recorder(backlog=0, pass_seconds=0.3)
    worker.start()
    await until(lambda: worker.passes == 1)
    await worker.stop()
    assert worker.finished == 1
    assert worker.closed


async def test_stop_cancels_a_pass_that_outlasts_the_grace() -> None:
    worker = Recorder(backlog=0, grace=0.1, pass_seconds=30)
    worker.start()
    await until(lambda: worker.passes == 1)
    async with asyncio.timeout(5):
        await worker.stop()
    assert worker.finished == 0
    assert worker.closed
