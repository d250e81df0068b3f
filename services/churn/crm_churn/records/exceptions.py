from crm_shared.errors import Conflict, NotFound, PreconditionFailed, PreconditionRequired


class RecordNotFound(NotFound):
    def __init__(self, record_id: object) -> None:
        super().__init__(f"no churn record {record_id}")


class AlreadyChurned(Conflict):
    def __init__(self, customer_id: object, record_id: object) -> None:
        super().__init__(
            f"customer {customer_id} already has an open churn record {record_id}; update its reasons instead",
            record_id=str(record_id),
        )


class BadTransition(Conflict):
    def __init__(self, status: str, wanted: str, allowed: list[str]) -> None:
        super().__init__(
            f"a record in status '{status}' cannot become '{wanted}'; allowed: {', '.join(allowed) or 'none'}",
            state=status,
            allowed=allowed,
        )


class StaleRecord(PreconditionFailed):
    def __init__(self, version: int) -> None:
        super().__init__(f"the record changed (now version {version}); read it again", version=version)


class IfMatchRequired(PreconditionRequired):
    def __init__(self) -> None:
        super().__init__("send If-Match with the record's ETag")
