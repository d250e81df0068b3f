from crm_shared.errors import FieldError, Unprocessable


class UnknownKinds(Unprocessable):
    def __init__(self, unknown: list[str], allowed: tuple[str, ...]) -> None:
        super().__init__(
            f"unknown timeline kind(s): {', '.join(unknown)}",
            errors=[FieldError(detail=f"allowed: {', '.join(allowed)}", parameter="kinds")],
        )
