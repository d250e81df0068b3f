"""The suite as real processes for end-to-end tests: the customer service delivering its events to the
scoring service, both behind the gateway, with a staff JWT secret and one partner API key. A test can
crash (SIGKILL) and start any part again on the same port, so every URL the others hold stays valid."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import jwt

from crm_customer.main import SERVICE_DIR as CUSTOMER_DIR
from crm_scoring.main import SERVICE_DIR as SCORING_DIR
from crm_shared.auth import generate_api_key
from crm_shared.testing import TEST_JWT_AUDIENCE, TEST_JWT_ISSUER, DatabaseFactory, ServerProcess, free_port
from crm_shared.topology import SERVICES

JWT_SECRET = "e2e-stack-jwt-secret-that-is-long-enough-for-hs256"
PARTNER = "e2e-shop"
# What `make run`'s sample partner key holds.
PARTNER_SCOPES = ("customers:read", "customers:write", "orders:read", "orders:write", "pii:read")


def staff(*roles: str, subject: str = "e2e-staff") -> dict[str, str]:
    """The Authorization header of a staff JWT with these roles, valid for an hour."""
    now = int(time.time())
    claims = {"sub": subject, "roles": list(roles), "iat": now, "exp": now + 3600}
    token = jwt.encode({**claims, "aud": TEST_JWT_AUDIENCE, "iss": TEST_JWT_ISSUER}, JWT_SECRET, "HS256")
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Part:
    """One part as its own uvicorn process; `kill` is a crash, `start` brings it back on the same port."""

    factory: str
    env: dict[str, str]
    ready_path: str = "/readyz"
    port: int = field(default_factory=free_port)
    process: ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True, timeout: float = 30.0) -> None:
        self.process = ServerProcess(self.factory, self.env, port=self.port)
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.process is not None
        self.process.wait_ready(self.ready_path, timeout=timeout)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def output(self) -> str:
        """What the process logged (for a failure message); empty once stopped."""
        if self.process is None:
            return ""
        try:
            return self.process.output()
        except OSError:
            return ""


@dataclass
class Stack:
    customer: Part
    scoring: Part
    gateway: Part
    customer_db: str  # asyncpg SQLAlchemy URLs of the services' databases
    scoring_db: str
    partner_key: str = field(repr=False)

    @property
    def url(self) -> str:
        return self.gateway.url

    def partner(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.partner_key}"}

    def start(self, *names: str) -> None:
        """Start the named parts (default: all) at once, then wait until each is ready."""
        parts = [part for name, part in self.parts().items() if not names or name in names]
        for part in parts:
            part.start(wait=False)
        for part in parts:
            part.wait_ready()

    def stop(self) -> None:
        for part in (self.gateway, self.customer, self.scoring):
            part.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{part.output()[-3000:]}" for name, part in self.parts().items())

    def parts(self) -> dict[str, Part]:
        return {"scoring": self.scoring, "customer": self.customer, "gateway": self.gateway}


async def build_stack(
    databases: DatabaseFactory,
    *,
    customer_db: str | None = None,
    scoring_db: str | None = None,
    customer_env: dict[str, str] | None = None,
    scoring_env: dict[str, str] | None = None,
    gateway_env: dict[str, str] | None = None,
) -> Stack:
    """A stack (not started) on fresh databases unless given; the customer service delivers the events scoring
    subscribes to (as `make run` wires them), quickly: relay polls every 0.2 s, retries from 0.05 s."""
    customer_db = customer_db or await databases.fresh(CUSTOMER_DIR)
    scoring_db = scoring_db or await databases.fresh(SCORING_DIR)
    key, key_id, hashed = generate_api_key()
    partner = {"id": key_id, "hash": hashed, "client_id": PARTNER, "scopes": list(PARTNER_SCOPES)}
    scoring = Part(
        "crm_scoring.main:create_app",
        {"SCORING_DATABASE_URL": scoring_db, "SCORING_LOG_LEVEL": "WARNING", **(scoring_env or {})},
    )
    subscribers = [
        {
            "name": "scoring",
            "url": f"{scoring.url}/internal/events",
            "types": list(SERVICES["scoring"].subscribes["customer"]),
        }
    ]
    customer = Part(
        "crm_customer.main:create_app",
        {
            "CUSTOMER_DATABASE_URL": customer_db,
            "CUSTOMER_SUBSCRIBERS": json.dumps(subscribers),
            "CUSTOMER_OUTBOX_POLL_SECONDS": "0.2",
            "CUSTOMER_OUTBOX_BACKOFF_BASE": "0.05",
            "CUSTOMER_LOG_LEVEL": "WARNING",
            **(customer_env or {}),
        },
    )
    gateway = Part(
        "crm_gateway.main:create_app",
        {
            "GATEWAY_SERVICES": json.dumps({"customer": customer.url, "scoring": scoring.url}),
            "GATEWAY_API_KEYS": json.dumps([partner]),
            "GATEWAY_JWT_SECRET": JWT_SECRET,
            "GATEWAY_RATE_LIMIT": "1000000/minute",  # tests are bursts from one caller
            "GATEWAY_LOG_LEVEL": "WARNING",
            **(gateway_env or {}),
        },
        ready_path="/healthz",
    )
    return Stack(customer, scoring, gateway, customer_db, scoring_db, key)
