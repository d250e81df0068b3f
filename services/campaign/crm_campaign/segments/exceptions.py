from crm_shared.errors import Conflict, FieldError, NotFound, PreconditionFailed, PreconditionRequired, Unprocessable


class SegmentNotFound(NotFound):
    def __init__(self, segment_id: object) -> None:
        super().__init__(f"no segment {segment_id}")


class SegmentNameTaken(Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(f"a segment named '{name}' already exists", name=name)


class InvalidRules(Unprocessable):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("the segment rules are invalid", errors=errors)


class StaleSegment(PreconditionFailed):
    def __init__(self, version: int) -> None:
        super().__init__(f"the segment changed: its version is {version}", version=version)


class IfMatchRequired(PreconditionRequired):
    def __init__(self) -> None:
        super().__init__("changing a segment needs If-Match with the ETag of the version you read")
