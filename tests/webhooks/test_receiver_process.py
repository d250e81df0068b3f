"""End to end with a real receiver process: the webhooks service (in-process, its delivery worker running)
delivers over HTTP to a receiver that verifies every signature with `standardwebhooks`; a failure is
retried and succeeds, a delivery that dies is replayed through the API and arrives."""

import json
from pathlib import Path
from typing import Any

from crm_shared.testing import ServerProcess, app_client, eventually
from crm_webhooks.config import Settings
from crm_webhooks.main import create_app
from tests.webhooks.conftest import ADMIN, publish, subscribe, write
from tests.webhooks.test_fan_out import lifecycle


def _entries(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


async def test_a_real_receiver_verifies_every_delivery(settings: Settings, tmp_path: Path) -> None:
    control, log = tmp_path / "control.json", tmp_path / "log.jsonl"
    control.write_text(json.dumps({"secret": "whsec_" + "A" * 44, "fail": 0}))
    fast = settings.model_copy(
        update={"worker_enabled": True, "worker_poll_seconds": 0.05, "backoff_base_seconds": 0.05, "max_attempts": 2}
    )
    env = {"RECEIVER_CONTROL": str(control), "RECEIVER_LOG": str(log)}
    with ServerProcess("tests.webhooks.receiver:create_app", env) as receiver:
        receiver.wait_ready(path="/")
        async with app_client(create_app(fast), headers=ADMIN) as client:
            sub = await subscribe(client, url=f"{receiver.url}/hooks")
            control.write_text(json.dumps({"secret": sub["secret"], "fail": 1}))

            # One failure, then the retry succeeds (same webhook-id).
            await publish(client, lifecycle("decline"))
            await eventually(lambda: _has(log, [500, 204]))

            # Two failures: max_attempts reached, the delivery is dead; replayed, it arrives.
            control.write_text(json.dumps({"secret": sub["secret"], "fail": 2}))
            await publish(client, lifecycle("growth"))
            deliveries = f"/api/v1/webhooks/subscriptions/{sub['id']}/deliveries"

            async def dead() -> list[dict[str, Any]]:
                items: list[dict[str, Any]] = (await client.get(deliveries, params={"status": "dead"})).json()["items"]
                return items

            [died] = await eventually(dead)
            replay = await client.post(f"{deliveries}/{died['id']}/replay", headers=write("replay"))
            assert replay.status_code == 200, replay.text
            await eventually(lambda: _has(log, [500, 204, 500, 500, 204]))
            final = (await client.get(f"{deliveries}/{died['id']}")).json()
            assert final["status"] == "succeeded"
            assert final["attempts"] == 1

    entries = _entries(log)
    assert all(e["verified"] for e in entries), entries
    assert [e["type"] for e in entries] == ["lifecycle.changed"] * 5
    first, second = entries[0]["id"], entries[2]["id"]
    assert [e["id"] for e in entries] == [first, first, second, second, second]
    assert first != second
    assert died["webhook_id"] == second


async def _has(log: Path, statuses: list[int]) -> bool:
    return [e["status"] for e in _entries(log)] == statuses
