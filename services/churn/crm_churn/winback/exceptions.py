from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from crm_shared.errors import Conflict, FieldError, NotFound, PreconditionFailed, Unprocessable


class CaseNotFound(NotFound):
    def __init__(self, case_id: object) -> None:
        super().__init__(f"no win-back case with id {case_id}")


class BadTransition(Conflict):
    def __init__(self, state: str, action: str, allowed: Sequence[str]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none: the case is closed"
        super().__init__(
            f"the case is in state '{state}': '{action}' is not allowed (allowed: {allowed_text})",
            state=state,
            action=action,
            allowed_actions=list(allowed),
        )


class StaleCase(PreconditionFailed):
    def __init__(self, version: int) -> None:
        super().__init__(f"the case changed since it was read (now version {version})", version=version)


class SeniorOwnerRequired(Unprocessable):
    def __init__(self, owner: str, value: Decimal, threshold: Decimal) -> None:
        super().__init__(
            f"a case worth {value:,.2f} (at least {threshold:,.2f}) needs a senior owner; '{owner}' is not one",
            errors=[FieldError(detail="not a senior owner (see the rules' senior_owners)", pointer="#/owner")],
        )


class OfferTooLarge(Unprocessable):
    def __init__(self, offer: Decimal, offered: Decimal, expected_value: Decimal, share: Decimal) -> None:
        maximum = (expected_value * share).quantize(Decimal("0.01"))
        room = max(Decimal(0), maximum - offered)
        super().__init__(
            f"offers may total at most {share:.0%} of the customer's expected value {expected_value:,.2f}, "
            f"i.e. {maximum:,.2f}; {offered:,.2f} is already offered, so at most {room:,.2f} more",
            errors=[FieldError(detail=f"at most {room:,.2f}", pointer="#/value")],
            offer=str(offer),
            offered=str(offered),
            expected_value=str(expected_value),
            max_share=str(share),
            maximum=str(maximum),
        )


class RecordClosed(Conflict):
    def __init__(self, status: str) -> None:
        super().__init__(
            f"the churn record is {status}: there is no churned customer to win back", record_status=status
        )
