from crm_shared.errors import Conflict, NotFound, PreconditionFailed, PreconditionRequired


class CustomerNotFound(NotFound):
    def __init__(self, customer_id: object) -> None:
        super().__init__(f"no customer with id {customer_id}")


class ExternalRefTaken(Conflict):
    def __init__(self, partner: str, external_id: str) -> None:
        super().__init__(
            f"partner '{partner}' already uses external id '{external_id}' for another customer",
            partner=partner,
            external_id=external_id,
        )


class StaleCustomer(PreconditionFailed):
    def __init__(self, current: int) -> None:
        super().__init__(f"the customer changed since it was read (current version {current}); read it again")


class IfMatchRequired(PreconditionRequired):
    def __init__(self) -> None:
        super().__init__("updates need an If-Match header with the customer's ETag")
