"""Points-ledger problems, rendered as problem+json."""

from __future__ import annotations

import uuid

from crm_shared.errors import FieldError, NotFound, Unprocessable


class InvalidMonth(Unprocessable):
    def __init__(self, parameter: str, value: str) -> None:
        super().__init__(
            f"{parameter} must be a month as YYYY-MM",
            errors=[FieldError(detail=f"expected YYYY-MM, e.g. 2026-11; got {value!r}", parameter=parameter)],
        )


class MonthWithRange(Unprocessable):
    def __init__(self) -> None:
        super().__init__(
            "give either month, or from and/or to",
            errors=[FieldError(detail="not together with from/to", parameter="month")],
        )


class ReversedRange(Unprocessable):
    def __init__(self) -> None:
        super().__init__("from is after to", errors=[FieldError(detail="must not be after to", parameter="from")])


class CustomerUnknown(NotFound):
    def __init__(self, customer_id: uuid.UUID) -> None:
        super().__init__(f"no customer with id {customer_id} is known to the scoring service")
