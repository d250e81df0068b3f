from crm_shared.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    Unprocessable,
)


class SubscriptionNotFound(NotFound):
    def __init__(self, subscription_id: object) -> None:
        super().__init__(f"no webhook subscription {subscription_id}")


class InvalidSubscription(Unprocessable):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("the subscription is invalid", errors=errors)


class StaleSubscription(PreconditionFailed):
    def __init__(self, version: int) -> None:
        super().__init__(f"the subscription changed: its version is {version}", version=version)


class IfMatchRequired(PreconditionRequired):
    def __init__(self) -> None:
        super().__init__("changing a subscription needs If-Match with the ETag of the version you read")


class PersonalDataSubscription(Forbidden):
    def __init__(self) -> None:
        super().__init__("this subscription receives personal data: changing it needs the scope 'pii:read'")


class TooManySubscriptions(Conflict):
    def __init__(self, limit: int) -> None:
        super().__init__(f"a partner holds at most {limit} subscriptions: delete one first", limit=limit)
