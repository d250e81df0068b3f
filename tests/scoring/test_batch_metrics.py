"""The batch's gauges on the scoring service's /metrics, read from batch_runs at the scrape: the latest run's
duration by kind and outcome, the age of the live scores, and whether a run is in progress."""

import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from crm_scoring.batch.runner import run_batch
from crm_scoring.main import create_app
from crm_shared.testing import app_client
from tests.scoring.events import deliver, order_created

NOW = datetime.now(UTC).replace(microsecond=0)


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
        if s.name.startswith("crm_scoring_")
    }


async def test_gauges_follow_the_runs(api, db, engine, settings) -> None:
    async with app_client(create_app(settings)) as probe:
        before = samples((await probe.get("/metrics")).text)
        assert before == {("crm_scoring_batch_running", ()): 0.0}  # no run yet: no duration, no age

        customer = uuid.uuid4()
        await deliver(api, *(order_created(customer, NOW - timedelta(days=30 * i), "25.00") for i in range(1, 6)))
        live = await run_batch(engine, settings, as_of=NOW)
        await run_batch(engine, settings, as_of=NOW - timedelta(days=2), store=False)
        await db.execute(
            "INSERT INTO batch_runs (as_of, refit, stored, status, phase, started_at, finished_at, error) "
            "VALUES (now(), true, true, 'failed', 'read', now() - interval '90 seconds', now(), 'test')"
        )
        after = samples((await probe.get("/metrics")).text)

    run = await db.fetchrow("SELECT started_at, finished_at FROM batch_runs WHERE id = $1", live.run_id)
    duration = (run["finished_at"] - run["started_at"]).total_seconds()
    assert after[("crm_scoring_batch_last_duration_seconds", (("kind", "live"), ("status", "succeeded")))] == duration
    assert ("crm_scoring_batch_last_duration_seconds", (("kind", "backtest"), ("status", "succeeded"))) in after
    failed = after[("crm_scoring_batch_last_duration_seconds", (("kind", "live"), ("status", "failed")))]
    assert 89 < failed < 91
    assert 0 <= after[("crm_scoring_live_scores_age_seconds", ())] < 60
    assert after[("crm_scoring_batch_running", ())] == 0.0
