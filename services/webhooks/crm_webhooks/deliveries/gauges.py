"""Gauges of the deliveries not settled yet, on the service's /metrics:

  crm_webhook_deliveries{state}           due (an active subscription's, to send now), scheduled (a retry
                                          later, or leased by a worker), paused (held by a paused
                                          subscription), dead (given up: replay them)
  crm_webhook_oldest_due_seconds          how long the oldest due delivery has waited (0 when none): the
                                          worker is behind when it grows

Per service, not per subscription (a label per subscription would be unbounded). They describe the
database, not the process, so every replica reports the same figures (alerts take the max). Read at each
scrape of /metrics (a grouped count through the partial index of unsettled deliveries) with the outbox and
dead-letter gauges (crm_shared.event_metrics.DatabaseGauge)."""

from crm_shared.event_metrics import DatabaseGauge

from .repository import WAITING

STATES = ("due", "scheduled", "paused", "dead")

GAUGES = (
    DatabaseGauge(
        "crm_webhook_deliveries",
        "Webhook deliveries not settled, by state",
        f"""
        SELECT st.state, coalesce(w.n, 0) AS value
        FROM unnest(ARRAY{list(STATES)}::text[]) AS st(state) LEFT JOIN ({WAITING}) w USING (state)
        """,
        ("state",),
    ),
    DatabaseGauge(
        "crm_webhook_oldest_due_seconds",
        "How long the oldest due webhook delivery has waited (0 when none)",
        f"SELECT coalesce((SELECT greatest(oldest, 0) FROM ({WAITING}) w WHERE state = 'due'), 0) AS value",
    ),
)
