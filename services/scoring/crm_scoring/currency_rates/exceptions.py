"""Exchange-rate problems, rendered as problem+json."""

from __future__ import annotations

from crm_shared.errors import FieldError, Unprocessable


class InvalidRates(Unprocessable):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("some rates cannot be loaded; nothing was loaded", errors=errors)
