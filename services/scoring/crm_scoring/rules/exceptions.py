"""Rule-set problems, rendered as problem+json."""

from __future__ import annotations

from crm_shared.errors import FieldError, NotFound, PreconditionFailed, PreconditionRequired, Unprocessable


class RuleSetNotFound(NotFound):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no rule set '{name}'; known: {', '.join(known)}", known=known)


class InvalidRules(Unprocessable):
    def __init__(self, name: str, errors: list[FieldError]) -> None:
        super().__init__(f"the '{name}' rules are invalid", errors=errors)


class StaleRuleSet(PreconditionFailed):
    def __init__(self, name: str, current: int) -> None:
        super().__init__(
            f"the '{name}' rules changed since they were read (current version {current}); read them again"
        )


class IfMatchRequired(PreconditionRequired):
    def __init__(self) -> None:
        super().__init__("updates need an If-Match header with the rule set's ETag")
