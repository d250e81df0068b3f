from crm_shared.errors import FieldError, NotFound, Unprocessable


class ContactNotOfCustomer(Unprocessable):
    def __init__(self, contact_id: object) -> None:
        super().__init__(
            f"contact {contact_id} is not one of this customer's contacts",
            errors=[FieldError(detail="unknown contact for this customer", pointer="#/contact_id")],
        )


class InteractionNotFound(NotFound):
    def __init__(self, interaction_id: object) -> None:
        super().__init__(f"no interaction with id {interaction_id} for this customer")
