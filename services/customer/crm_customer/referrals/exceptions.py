import uuid

from crm_shared.errors import Conflict, NotFound


class NotReferred(NotFound):
    def __init__(self, customer_id: uuid.UUID) -> None:
        super().__init__(f"no referral is recorded for customer {customer_id}")


class AlreadyReferred(Conflict):
    def __init__(self, referrer_id: uuid.UUID) -> None:
        super().__init__(
            f"this customer's referral is already recorded (referrer {referrer_id}); it cannot change",
            referrer_id=str(referrer_id),
        )
