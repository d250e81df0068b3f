from crm_shared.errors import Conflict, NotFound


class TagNotFound(NotFound):
    def __init__(self, key: str) -> None:
        super().__init__(f"no tag '{key}' in the catalogue")


class TagExists(Conflict):
    def __init__(self, key: str) -> None:
        super().__init__(f"the tag '{key}' already exists", key=key)


class SystemTag(Conflict):
    def __init__(self, key: str) -> None:
        super().__init__(f"'{key}' is a system tag and cannot be deleted", key=key)


class TagInUse(Conflict):
    def __init__(self, key: str, assigned: int) -> None:
        super().__init__(
            f"the tag '{key}' is assigned to {assigned} customer(s); delete with ?force=true to remove them too",
            key=key,
            assigned=assigned,
        )
