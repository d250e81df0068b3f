from crm_shared.errors import Conflict, NotFound, PreconditionFailed, PreconditionRequired


class ContactNotFound(NotFound):
    def __init__(self, contact_id: object) -> None:
        super().__init__(f"this customer has no contact with id {contact_id}")


class StaleContact(PreconditionFailed):
    def __init__(self, current: int) -> None:
        super().__init__(f"the contact changed since it was read (current version {current}); read it again")


class IfMatchRequired(PreconditionRequired):
    def __init__(self) -> None:
        super().__init__("updates need an If-Match header with the contact's ETag")


class ContactInUse(Conflict):
    def __init__(self) -> None:
        super().__init__("complaints or interactions refer to this contact; it cannot be deleted")
