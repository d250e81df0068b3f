"""The one error type of the value package: bad configuration data (formulas, segment maps, thresholds)."""

from typing import Any


class FormulaError(ValueError):
    """Configuration data was rejected; ``term`` names the offending term/rule so the API can say which one.

    The API layer should map this to HTTP 422 using :meth:`to_dict` as the body.
    """

    status_code = 422

    def __init__(self, term: str, detail: str, field: str | None = None) -> None:
        self.term = term
        self.field = field
        self.detail = detail
        where = f"term {term!r}" + (f", field {field!r}" if field else "")
        super().__init__(f"{where}: {detail}")

    def to_dict(self) -> dict[str, Any]:
        return {"term": self.term, "field": self.field, "detail": self.detail}
