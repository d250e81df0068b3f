"""A partner's webhook receiver, run as its own process (`uvicorn --factory tests.webhooks.receiver:create_app`)
by tests/webhooks/test_receiver_process.py: verifies each delivery with the reference library
(`standardwebhooks`) and appends what it saw to a JSON-lines log.

Controlled through a JSON file (RECEIVER_CONTROL): `secret`, the subscription's signing secret, and `fail`,
how many of the next deliveries to answer 500 (each failure counts it down)."""

import json
import os
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

Scope = dict[str, Any]


def create_app() -> Any:
    control = Path(os.environ["RECEIVER_CONTROL"])
    log = Path(os.environ["RECEIVER_LOG"])

    def handle(body: bytes, headers: dict[str, str]) -> int:
        """Verify, log and answer one delivery (blocking file work: a test receiver takes one at a time)."""
        state = json.loads(control.read_text())
        try:
            payload = Webhook(state["secret"]).verify(body, headers)
            verified, kind = True, payload["type"]
        except WebhookVerificationError:
            verified, kind = False, None
        status = 204 if verified else 401
        if verified and state["fail"] > 0:
            status = 500
            control.write_text(json.dumps({**state, "fail": state["fail"] - 1}))
        entry = {"id": headers.get("webhook-id"), "type": kind, "verified": verified, "status": status}
        with log.open("a") as f:
            f.write(json.dumps(entry) + "\n")
        return status

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status = 200
        if scope["path"] == "/hooks":
            status = handle(body, {k.decode(): v.decode() for k, v in scope["headers"]})
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    return app
