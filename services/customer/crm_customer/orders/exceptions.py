from crm_shared.errors import Conflict, NotFound


class OrderNotFound(NotFound):
    def __init__(self, order_id: object) -> None:
        super().__init__(f"no order with id {order_id}")


class OrderExists(Conflict):
    def __init__(self, external_id: str, order_id: object) -> None:
        super().__init__(f"order '{external_id}' was already pushed", order_id=str(order_id))


class InvalidOrderTransition(Conflict):
    def __init__(self, status: str, action: str) -> None:
        super().__init__(f"cannot {action} an order that is {status}", order_status=status)
