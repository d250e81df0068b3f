"""Problems of the scores domain."""

from __future__ import annotations

from crm_shared.errors import FieldError, NotFound, Unprocessable


class ScoresNotFound(NotFound):
    def __init__(self, customer_id: object) -> None:
        super().__init__(f"no scores for customer {customer_id}")


class InvalidRange(Unprocessable):
    """A `*_min` above its `*_max`: no customer can match, which is surely not what was meant."""

    def __init__(self, low: str, high: str) -> None:
        super().__init__(
            f"{low} is above {high}",
            errors=[FieldError(detail=f"must not exceed {high}", parameter=low)],
        )
