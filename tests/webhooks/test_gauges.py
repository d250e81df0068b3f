"""The gauges of unsettled deliveries on /metrics, read from the database at each scrape: due, scheduled,
paused and dead counts, and how long the oldest due delivery has waited; and the count reads only the
partial index of unsettled deliveries."""

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.webhooks.conftest import publish, subscribe, write
from tests.webhooks.test_fan_out import lifecycle

SUBS = "/api/v1/webhooks/subscriptions"


async def _gauges(api: httpx.AsyncClient) -> dict[str, float]:
    found = {}
    for family in text_string_to_metric_families((await api.get("/metrics")).text):
        for sample in family.samples:
            if sample.name == "crm_webhook_deliveries":
                found[sample.labels["state"]] = sample.value
            elif sample.name == "crm_webhook_oldest_due_seconds":
                found["oldest"] = sample.value
    return found


async def test_gauges_count_deliveries_by_state(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    assert await _gauges(api) == {"due": 0, "scheduled": 0, "paused": 0, "dead": 0, "oldest": 0}
    active = await subscribe(api)
    paused = await subscribe(api)
    await api.post(f"{SUBS}/{paused['id']}/pause", headers=write("pause"))
    await publish(api, *(lifecycle("decline") for _ in range(5)))  # 5 deliveries to each
    deliveries = [
        r["id"]
        for r in await db.fetch(
            "SELECT id FROM webhook_deliveries WHERE subscription_id = $1 ORDER BY id", active["id"]
        )
    ]
    await db.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = now() - interval '100 seconds' WHERE id = $1", deliveries[0]
    )
    await db.execute(
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = now() + interval '1 hour' WHERE id = $1",
        deliveries[1],
    )
    await db.execute("UPDATE webhook_deliveries SET status = 'dead' WHERE id = ANY($1)", deliveries[2:4])
    # A succeeded delivery is settled: in no gauge.
    await db.execute(
        "UPDATE webhook_deliveries SET status = 'succeeded', succeeded_at = now() WHERE id = $1", deliveries[4]
    )
    got = await _gauges(api)
    assert {k: v for k, v in got.items() if k != "oldest"} == {"due": 1, "scheduled": 1, "paused": 5, "dead": 2}
    assert 100 <= got["oldest"] < 130


async def test_the_count_reads_only_unsettled_deliveries(db: asyncpg.Connection) -> None:
    from crm_webhooks.deliveries.repository import WAITING

    await db.execute("SET enable_seqscan = off")  # a small table: the planner would scan it whole otherwise
    plan = "\n".join(r[0] for r in await db.fetch("EXPLAIN " + WAITING))
    assert "ix_webhook_deliveries_unsettled" in plan, plan
