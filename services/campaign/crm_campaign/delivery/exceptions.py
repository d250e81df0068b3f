from crm_shared.errors import Conflict, NotFound, PreconditionFailed


class NotABatchChannel(Conflict):
    def __init__(self, channel: str) -> None:
        super().__init__(
            f"this campaign's channel is {channel}: its messages are sent by the delivery worker; batches are "
            "for postal mail and phone campaigns",
            channel=channel,
        )


class NotLaunched(Conflict):
    def __init__(self, status: str) -> None:
        super().__init__(f"the campaign is {status}, not launched", status=status)


class NothingDue(Conflict):
    def __init__(self) -> None:
        super().__init__("no recipient of this campaign is due: nothing to put in a batch")


class BatchNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("no such batch in this campaign")


class CallTaskNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("no call task for this customer in this campaign")


class StaleCallTask(PreconditionFailed):
    def __init__(self, version: int) -> None:
        super().__init__(f"the call task changed: it is at version {version}", version=version)
