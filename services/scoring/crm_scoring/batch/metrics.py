"""The batch on /metrics, read from `batch_runs` at each scrape: a run happens in the service (the API) or in
the `python -m crm_scoring.batch` job, and only the table knows both. Small table: no index needed."""

from crm_shared.event_metrics import DatabaseGauge

GAUGES = (
    DatabaseGauge(
        "crm_scoring_batch_last_duration_seconds",
        "Wall time of the latest finished batch run, by kind (live: replaced the scores; backtest) and outcome",
        """
        SELECT DISTINCT ON (stored, status) CASE WHEN stored THEN 'live' ELSE 'backtest' END AS kind, status,
               extract(epoch FROM finished_at - started_at) AS value
        FROM batch_runs WHERE status IN ('succeeded', 'failed') AND finished_at IS NOT NULL
        ORDER BY stored, status, finished_at DESC
        """,
        ("kind", "status"),
    ),
    DatabaseGauge(
        "crm_scoring_live_scores_age_seconds",
        "Seconds since the latest successful run that replaced the live scores (absent before the first one)",
        "SELECT extract(epoch FROM now() - max(finished_at)) AS value FROM batch_runs "
        "WHERE status = 'succeeded' AND stored",
    ),
    DatabaseGauge(
        "crm_scoring_batch_running",
        "Batch runs in progress (at most one)",
        "SELECT count(*) AS value FROM batch_runs WHERE status = 'running'",
    ),
)
