from crm_shared.errors import PreconditionFailed


class StalePreferences(PreconditionFailed):
    def __init__(self, current: int) -> None:
        super().__init__(f"the customer changed since it was read (current version {current}); read it again")
