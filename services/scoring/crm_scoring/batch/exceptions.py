"""Batch-run problems, rendered as problem+json."""

from __future__ import annotations

import uuid

from crm_shared.errors import Conflict, FieldError, NotFound, Unprocessable


class RunNotFound(NotFound):
    def __init__(self, run_id: int) -> None:
        super().__init__(f"no batch run {run_id}")


class NoKeptScores(NotFound):
    def __init__(self, run_id: int) -> None:
        super().__init__(f"batch run {run_id} kept no copy of the scores (a backtest with keep_scores keeps one)")


class NotInRunCopy(NotFound):
    def __init__(self, run_id: int, customer_id: uuid.UUID) -> None:
        super().__init__(f"customer {customer_id} is not in batch run {run_id}'s copy (not known as of its date)")


class RunStillRunning(Conflict):
    def __init__(self, run_id: int | None) -> None:
        super().__init__(f"batch run {run_id} is still running", headers={"Retry-After": "30"}, running_run_id=run_id)


class InvalidRunRequest(Unprocessable):
    """A recompute request whose dates or options do not go together; `field` names the one to change."""

    def __init__(self, title: str, field: str, detail: str) -> None:
        super().__init__(title, errors=[FieldError(detail=detail, pointer=f"#/{field}")])
