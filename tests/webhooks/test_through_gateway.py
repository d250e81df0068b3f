"""End to end, every part its own process: partners subscribe through the gateway (`/api/v1/webhooks`,
their API keys' `webhooks:*` scopes), push orders to the customer service, whose outbox delivers the order
events to the webhooks service, whose worker delivers each to the subscription of the partner the order
names; the receiver verifies every delivery with `standardwebhooks`. The `integration` role manages all."""

import json
from pathlib import Path
from typing import Any

import httpx

from crm_shared.testing import DatabaseFactory, eventually
from crm_webhooks.main import SERVICE_DIR
from tests.customer.helpers import order
from tests.e2e.stack import Part, build_stack, running, staff

SHOP, OTHER = "hook-shop", "other-shop"
SCOPES = ("orders:read", "orders:write", "customers:read", "customers:write", "webhooks:read", "webhooks:write")


def _entries(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


async def test_partner_orders_reach_the_partners_own_webhook(databases: DatabaseFactory, tmp_path: Path) -> None:
    stack = await build_stack(databases, services=("customer",), partners={SHOP: SCOPES, OTHER: SCOPES})
    control, log = tmp_path / "control.json", tmp_path / "log.jsonl"
    control.write_text(json.dumps({"secret": "whsec_" + "A" * 44, "fail": 0}))
    receiver = Part("tests.webhooks.receiver:create_app", {"RECEIVER_CONTROL": str(control), "RECEIVER_LOG": str(log)})
    receiver.ready_path = "/"
    webhooks = Part(
        "crm_webhooks.main:create_app",
        {
            "WEBHOOKS_DATABASE_URL": await databases.fresh(SERVICE_DIR),
            "WEBHOOKS_LOG_LEVEL": "WARNING",
            "WEBHOOKS_ALLOW_HTTP": "true",
            "WEBHOOKS_ALLOW_PRIVATE_HOSTS": "true",
            "WEBHOOKS_WORKER_POLL_SECONDS": "0.1",
        },
    )
    # Wired as `make run` wires them: the customer service delivers what the webhooks service subscribes to.
    stack.services["webhooks"] = webhooks
    stack.services["receiver"] = receiver
    customer = stack.customer.env
    customer["CUSTOMER_SUBSCRIBERS"] = json.dumps(
        [{"name": "webhooks", "url": f"{webhooks.url}/internal/events", "types": ["customer.*", "order.*"]}]
    )
    services = json.loads(stack.gateway.env["GATEWAY_SERVICES"])
    stack.gateway.env["GATEWAY_SERVICES"] = json.dumps({**services, "webhooks": webhooks.url})

    with running(stack):
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:

            def auth(client: str) -> dict[str, str]:
                return {**stack.partner(client), "Idempotency-Key": f"{client}-{len(_entries(log))}-{id(auth)}"}

            body = {"url": f"{receiver.url}/hooks", "event_types": ["*"]}
            sub = await http.post("/api/v1/webhooks/subscriptions", json=body, headers=auth(SHOP))
            assert sub.status_code == 201, sub.text
            created = sub.json()
            assert created["partner"] == SHOP
            assert created["event_types"] == ["*"]
            control.write_text(json.dumps({"secret": created["secret"], "fail": 0}))
            # The integration role sees every subscription; a partner only its own.
            integration = await http.get("/api/v1/webhooks/subscriptions", headers=staff("integration"))
            assert [s["id"] for s in integration.json()["items"]] == [created["id"]]
            other = await http.get(f"/api/v1/webhooks/subscriptions/{created['id']}", headers=stack.partner(OTHER))
            assert other.status_code == 404
            analyst = await http.post("/api/v1/webhooks/subscriptions", json=body, headers=staff("analyst"))
            assert analyst.status_code == 403

            mine = await http.post("/api/v1/orders", json=order("HOOK-1"), headers=auth(SHOP))
            assert mine.status_code == 201, mine.text
            theirs = await http.post("/api/v1/orders", json=order("HOOK-2"), headers=auth(OTHER))
            assert theirs.status_code == 201, theirs.text

            await eventually(lambda: _count(log, 1), within=20)
            # Time for the other partner's order to have been delivered too, were it ever to be.
            deliveries = f"/api/v1/webhooks/subscriptions/{created['id']}/deliveries"

            async def succeeded() -> list[dict[str, Any]]:
                items: list[dict[str, Any]] = (await http.get(deliveries, headers=stack.partner(SHOP))).json()["items"]
                return [d for d in items if d["status"] == "succeeded"]

            done = await eventually(succeeded)
        entries = _entries(log)
    assert [(e["type"], e["verified"], e["status"]) for e in entries] == [("order.created", True, 204)]
    assert [d["event_type"] for d in done] == ["order.created"]
    assert done[0]["webhook_id"] == entries[0]["id"]


async def _count(log: Path, n: int) -> bool:
    return len(_entries(log)) >= n
