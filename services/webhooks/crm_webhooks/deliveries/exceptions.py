from crm_shared.errors import Conflict, NotFound


class DeliveryNotFound(NotFound):
    def __init__(self, delivery_id: object) -> None:
        super().__init__(f"no delivery {delivery_id} of this subscription")


class NotDead(Conflict):
    def __init__(self, status: str) -> None:
        super().__init__(f"only a dead delivery can be replayed; this one is {status}", delivery_status=status)
