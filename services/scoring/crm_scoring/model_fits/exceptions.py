"""Model-fit problems, rendered as problem+json."""

from __future__ import annotations

from crm_shared.errors import NotFound


class NoCalibration(NotFound):
    def __init__(self) -> None:
        super().__init__("no calibration yet: run POST /api/v1/scores/recompute to fit the models")
