"""Formula problems, each rendered as problem+json naming what to fix."""

from __future__ import annotations

from crm_shared.errors import Conflict, FieldError, NotFound, Unprocessable

from ..value.errors import FormulaError


def _escape(token: str) -> str:
    """One JSON Pointer reference token (RFC 6901): `~` and `/` are escaped."""
    return token.replace("~", "~0").replace("/", "~1")


def formula_pointer(exc: FormulaError) -> str:
    """Where in the request body the offending value sits, e.g. `#/terms/spend/rule/cap`.

    `validate()` names fields as `rule.cap`, `rule.table[2]` or `rule.weights.<category>`; a category may
    itself contain dots, so everything after `rule.weights.` is one token."""
    field = exc.field or ""
    if exc.term == "(formula)":
        return "#" + "".join(f"/{_escape(p)}" for p in field.split(".") if p)
    base = f"#/terms/{_escape(exc.term)}"
    if field in ("", "name"):  # the term itself (a bad term name is its key)
        return base
    if field.startswith("rule.weights."):
        return f"{base}/rule/weights/{_escape(field.removeprefix('rule.weights.'))}"
    tokens = field.replace("[", ".").replace("]", "").split(".")
    return base + "".join(f"/{_escape(t)}" for t in tokens if t)


class InvalidFormula(Unprocessable):
    """A formula `validate()` refused: names the term, the field and why."""

    def __init__(self, exc: FormulaError) -> None:
        super().__init__(
            f"the formula is invalid: {exc}",
            errors=[FieldError(detail=exc.detail, pointer=formula_pointer(exc))],
            term=exc.term,
            field=exc.field,
        )


class InvalidSample(Unprocessable):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("the sample input is invalid", errors=errors)


class FormulaNotFound(NotFound):
    def __init__(self, version: int) -> None:
        super().__init__(f"no formula version {version}")


class NoActiveFormula(NotFound):
    def __init__(self) -> None:
        super().__init__(
            "no formula version is active; activate one with POST /api/v1/scores/formulas/{version}/activate"
        )


class StoredFormulaInvalid(Conflict):
    """A stored version that today's validation refuses (it was valid when stored): not activated."""

    def __init__(self, version: int, exc: FormulaError) -> None:
        super().__init__(f"formula version {version} no longer validates ({exc}); create a corrected version")
