from crm_shared.errors import Conflict, FieldError, NotFound, PreconditionFailed, PreconditionRequired, Unprocessable


class ReasonNotFound(NotFound):
    def __init__(self, key: str) -> None:
        super().__init__(f"no churn reason '{key}'")


class ReasonExists(Conflict):
    def __init__(self, key: str) -> None:
        super().__init__(f"the churn reason '{key}' already exists", key=key)


class StaleReason(PreconditionFailed):
    def __init__(self, key: str, version: int) -> None:
        super().__init__(f"the reason '{key}' changed (now version {version}); read it again", version=version)


class IfMatchRequired(PreconditionRequired):
    def __init__(self) -> None:
        super().__init__("send If-Match with the reason's ETag")


class UnusableReasons(Unprocessable):
    """Reasons a record cannot take: unknown or retired (each named by its pointer in the body)."""

    def __init__(self, problems: list[tuple[int, str, str]], field: str = "reasons") -> None:
        errors = [FieldError(detail=f"'{key}' {why}", pointer=f"#/{field}/{i}") for i, key, why in problems]
        super().__init__("unknown or retired churn reasons", errors=errors)
