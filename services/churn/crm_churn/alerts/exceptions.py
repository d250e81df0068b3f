from crm_shared.errors import NotFound


class AlertNotFound(NotFound):
    def __init__(self, alert_id: object) -> None:
        super().__init__(f"no churn alert {alert_id}")
