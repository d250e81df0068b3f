from crm_shared.errors import Conflict, FieldError, NotFound, PreconditionFailed, PreconditionRequired, Unprocessable


class CampaignNotFound(NotFound):
    def __init__(self, campaign_id: object) -> None:
        super().__init__(f"no campaign {campaign_id}")


class HoldoutNotFound(NotFound):
    def __init__(self, holdout_id: object) -> None:
        super().__init__(f"no global holdout {holdout_id}")


class NotDraft(Conflict):
    def __init__(self, status: str) -> None:
        super().__init__(
            f"the campaign is {status}: only a draft can be changed or launched, and a cancelled one nothing",
            campaign_status=status,
        )


class StaleCampaign(PreconditionFailed):
    def __init__(self, version: int) -> None:
        super().__init__(f"the campaign changed: its version is {version}", version=version)


class IfMatchRequired(PreconditionRequired):
    def __init__(self) -> None:
        super().__init__("changing a campaign needs If-Match with the ETag of the version you read")


class InvalidCampaign(Unprocessable):
    def __init__(self, pointer: str, detail: str) -> None:
        super().__init__("the campaign is invalid", errors=[FieldError(detail=detail, pointer=pointer)])
