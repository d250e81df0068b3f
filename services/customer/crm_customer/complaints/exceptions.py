from crm_shared.errors import Conflict, NotFound, PreconditionFailed


class ComplaintNotFound(NotFound):
    def __init__(self, complaint_id: object) -> None:
        super().__init__(f"no complaint with id {complaint_id}")


class CategoryNotFound(NotFound):
    def __init__(self, key: str) -> None:
        super().__init__(f"no complaint category '{key}'")


class CategoryExists(Conflict):
    def __init__(self, key: str) -> None:
        super().__init__(f"the complaint category '{key}' already exists", key=key)


class SystemCategoryLabel(Conflict):
    def __init__(self, key: str) -> None:
        super().__init__(f"'{key}' is a system category: it can be deactivated but keeps its label", key=key)


class InvalidTransition(Conflict):
    def __init__(self, status: str, action: str, allowed: list[str]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none"
        super().__init__(
            f"cannot {action} a complaint that is {status}; allowed actions: {allowed_text}",
            complaint_status=status,
            allowed_actions=allowed,
        )


class ClosedComplaint(Conflict):
    def __init__(self) -> None:
        super().__init__("a closed complaint cannot be edited; reopen it first", complaint_status="closed")


class StaleComplaint(PreconditionFailed):
    def __init__(self, current: int) -> None:
        super().__init__(f"the complaint changed since it was read (current version {current}); read it again")
