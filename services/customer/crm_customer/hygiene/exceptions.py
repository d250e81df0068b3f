from crm_shared.errors import Conflict, FieldError, Unprocessable


class SelfMerge(Unprocessable):
    def __init__(self) -> None:
        super().__init__(
            "a customer cannot be merged into itself",
            errors=[FieldError(detail="must differ from the survivor in the path", pointer="#/merged_id")],
        )


class MergedCustomerUnknown(Unprocessable):
    def __init__(self, customer_id: object) -> None:
        super().__init__(
            f"no customer with id {customer_id}",
            errors=[FieldError(detail="unknown customer", pointer="#/merged_id")],
        )


class AlreadyMerged(Conflict):
    def __init__(self, customer_id: object, into: object) -> None:
        super().__init__(
            f"customer {customer_id} was already merged into {into}",
            reason="already_merged",
            customer_id=str(customer_id),
            merged_into=str(into),
        )


class KindMismatch(Conflict):
    def __init__(self, survivor_kind: str, merged_kind: str) -> None:
        super().__init__(
            f"cannot merge a {merged_kind} customer into a {survivor_kind} customer; link individuals to a company "
            "instead",
            reason="kind_mismatch",
        )
