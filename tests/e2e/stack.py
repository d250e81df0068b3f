"""The suite as real processes for end-to-end tests: the customer service delivering its events to the
scoring service (or the customer service alone), behind the gateway, with a staff JWT secret and partner API
keys. A test can crash (SIGKILL) and start any part again on the same port, so every URL the others hold
stays valid. Also the minimal event consumer (tests/support/receiver.py) as a process of its own."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import jwt

from crm_campaign.main import SERVICE_DIR as CAMPAIGN_DIR
from crm_churn.main import SERVICE_DIR as CHURN_DIR
from crm_customer.main import SERVICE_DIR as CUSTOMER_DIR
from crm_scoring.main import SERVICE_DIR as SCORING_DIR
from crm_shared import launcher
from crm_shared.auth import generate_api_key
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.testing import TEST_JWT_AUDIENCE, TEST_JWT_ISSUER, DatabaseFactory, ServerProcess, free_port
from crm_shared.topology import SERVICES
from crm_webhooks.main import SERVICE_DIR as WEBHOOKS_DIR

ROOT = Path(__file__).resolve().parents[2]
JWT_SECRET = "e2e-stack-jwt-secret-that-is-long-enough-for-hs256"
PARTNER = "e2e-shop"
PARTNER_SCOPES = tuple(launcher.PARTNER_SCOPES)  # what `make run`'s sample key holds
SERVICE_DIRS = {
    "customer": CUSTOMER_DIR,
    "scoring": SCORING_DIR,
    "churn": CHURN_DIR,
    "campaign": CAMPAIGN_DIR,
    "webhooks": WEBHOOKS_DIR,
}
# Quick delivery for a publisher's outbox (as the customer service's below): poll 0.2 s, retry from 0.05 s.
QUICK_RELAY = {"OUTBOX_POLL_SECONDS": "0.2", "OUTBOX_BACKOFF_BASE": "0.05"}


def staff_token(*roles: str, subject: str = "e2e-staff", expires_in: int = 3600) -> str:
    """A staff JWT with these roles, signed as the stack's gateway expects."""
    now = int(time.time())
    claims = {"sub": subject, "roles": list(roles), "iat": now, "exp": now + expires_in}
    return jwt.encode({**claims, "aud": TEST_JWT_AUDIENCE, "iss": TEST_JWT_ISSUER}, JWT_SECRET, "HS256")


def staff(*roles: str, subject: str = "e2e-staff", expires_in: int = 3600) -> dict[str, str]:
    """The Authorization header of a staff JWT with these roles, valid for an hour by default."""
    return {"Authorization": f"Bearer {staff_token(*roles, subject=subject, expires_in=expires_in)}"}


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

    # Generous: on a loaded 2-core machine (two test workers, each starting several processes) a part with
    # migrations and a worker took over 30 s to answer /readyz; a healthy start is far quicker.
    def start(self, *, wait: bool = True, timeout: float = 90.0) -> None:
        self.process = ServerProcess(self.factory, self.env, port=self.port)
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 90.0) -> None:
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
    services: dict[str, Part]  # scoring first when there: the customer service delivers to it
    gateway: Part
    databases: dict[str, str]  # service -> the asyncpg SQLAlchemy URL of its database
    keys: dict[str, str] = field(repr=False)  # partner client id -> its API key

    @property
    def url(self) -> str:
        return self.gateway.url

    @property
    def customer(self) -> Part:
        return self.services["customer"]

    @property
    def scoring(self) -> Part:
        return self.services["scoring"]

    @property
    def churn(self) -> Part:
        return self.services["churn"]

    @property
    def campaign(self) -> Part:
        return self.services["campaign"]

    @property
    def customer_db(self) -> str:
        return self.databases["customer"]

    @property
    def scoring_db(self) -> str:
        return self.databases["scoring"]

    def partner(self, client_id: str = PARTNER) -> dict[str, str]:
        """The Authorization header of that partner's API key."""
        return {"Authorization": f"Bearer {self.keys[client_id]}"}

    def start(self, *names: str) -> None:
        """Start the named parts (default: all) at once, then wait until each is ready."""
        parts = [part for name, part in self.parts().items() if not names or name in names]
        for part in parts:
            part.start(wait=False)
        for part in parts:
            part.wait_ready()

    def stop(self) -> None:
        for part in (self.gateway, *self.services.values()):
            part.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{part.output()[-3000:]}" for name, part in self.parts().items())

    def parts(self) -> dict[str, Part]:
        return {**self.services, "gateway": self.gateway}


ALL_SERVICES = tuple(name for name, part in SERVICES.items() if part.database)  # every service with its data


async def build_stack(
    databases: DatabaseFactory,
    *,
    services: Sequence[str] = ("customer", "scoring"),
    partners: Mapping[str, Sequence[str]] | None = None,
    customer_db: str | None = None,
    scoring_db: str | None = None,
    customer_env: dict[str, str] | None = None,
    scoring_env: dict[str, str] | None = None,
    gateway_env: dict[str, str] | None = None,
    churn_env: dict[str, str] | None = None,
    churn_db: str | None = None,
    campaign_env: dict[str, str] | None = None,
    campaign_db: str | None = None,
) -> Stack:
    """A stack (not started) of these services on fresh databases unless given, and partner keys (client id ->
    scopes; default: PARTNER with PARTNER_SCOPES). With scoring, the customer service delivers the events scoring
    subscribes to (as `make run` wires them), quickly: relay polls every 0.2 s, retries from 0.05 s. With churn,
    the customer and scoring services deliver what churn subscribes to from each of them (the topology)."""
    given = {"customer": customer_db, "scoring": scoring_db, "churn": churn_db, "campaign": campaign_db}
    dbs = {name: given.get(name) or await databases.fresh(SERVICE_DIRS[name]) for name in services}
    keys, api_keys = {}, []
    for client_id, scopes in (partners or {PARTNER: PARTNER_SCOPES}).items():
        key, key_id, hashed = generate_api_key()
        keys[client_id] = key
        api_keys.append({"id": key_id, "hash": hashed, "client_id": client_id, "scopes": list(scopes)})
    parts: dict[str, Part] = {}
    if "webhooks" in dbs:  # first: the publishers below deliver to it (the topology's subscriptions)
        parts["webhooks"] = Part(
            "crm_webhooks.main:create_app",
            {"WEBHOOKS_DATABASE_URL": dbs["webhooks"], "WEBHOOKS_LOG_LEVEL": "WARNING"},
        )
    if "churn" in dbs:
        parts["churn"] = Part(
            "crm_churn.main:create_app",
            {"CHURN_DATABASE_URL": dbs["churn"], "CHURN_LOG_LEVEL": "WARNING", **(churn_env or {})},
        )
    if "campaign" in dbs:  # its upstream URLs (the bulk sync) are set once those parts exist, below
        parts["campaign"] = Part(
            "crm_campaign.main:create_app",
            {"CAMPAIGN_DATABASE_URL": dbs["campaign"], "CAMPAIGN_LOG_LEVEL": "WARNING", **(campaign_env or {})},
        )
    if "scoring" in dbs:
        scoring_subscribers = _subscribers("scoring", parts)
        relay = {f"SCORING_{k}": v for k, v in QUICK_RELAY.items()} if scoring_subscribers else {}
        parts["scoring"] = Part(
            "crm_scoring.main:create_app",
            {
                "SCORING_DATABASE_URL": dbs["scoring"],
                "SCORING_LOG_LEVEL": "WARNING",
                "SCORING_SUBSCRIBERS": json.dumps(scoring_subscribers),
                **relay,
                **(scoring_env or {}),
            },
        )
    subscribers = _subscribers("customer", parts)
    parts["customer"] = Part(
        "crm_customer.main:create_app",
        {
            "CUSTOMER_DATABASE_URL": dbs["customer"],
            "CUSTOMER_SUBSCRIBERS": json.dumps(subscribers),
            "CUSTOMER_OUTBOX_POLL_SECONDS": "0.2",
            "CUSTOMER_OUTBOX_BACKOFF_BASE": "0.05",
            "CUSTOMER_LOG_LEVEL": "WARNING",
            **(customer_env or {}),
        },
    )
    if "campaign" in parts:
        parts["campaign"].env.setdefault("CAMPAIGN_CUSTOMER_SERVICE_URL", parts["customer"].url)
        if "scoring" in parts:
            parts["campaign"].env.setdefault("CAMPAIGN_SCORING_SERVICE_URL", parts["scoring"].url)
    gateway = Part(
        "crm_gateway.main:create_app",
        {
            "GATEWAY_SERVICES": json.dumps({name: part.url for name, part in parts.items()}),
            "GATEWAY_API_KEYS": json.dumps(api_keys),
            "GATEWAY_JWT_SECRET": JWT_SECRET,
            "GATEWAY_RATE_LIMIT": "1000000/minute",  # tests are bursts from one caller
            "GATEWAY_LOG_LEVEL": "WARNING",
            **(gateway_env or {}),
        },
        ready_path="/healthz",
    )
    return Stack(parts, gateway, dbs, keys)


def _subscribers(publisher: str, parts: Mapping[str, Part]) -> list[dict[str, object]]:
    """The publisher's subscriptions to the parts that subscribe to it (crm_shared.topology)."""
    return [
        {"name": name, "url": f"{part.url}/internal/events", "types": list(SERVICES[name].subscribes[publisher])}
        for name, part in parts.items()
        if publisher in SERVICES[name].subscribes
    ]


@contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    """The stack started and ready; every part stopped on exit, whatever the test restarted."""
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@asynccontextmanager
async def receiving(db_url: str, port: int) -> AsyncIterator[asyncpg.Connection]:
    """The minimal event consumer (tests/support/receiver.py) on `port`, storing into `db_url` (a customer
    database with its `received_events` table), while the block runs; yields a connection to that database."""
    receiver = Part(
        "tests.support.receiver:create_app",
        # The customer service signs its deliveries with the run's secret (crm_shared.testing).
        {"RECEIVER_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT), "EVENT_SECRET": os.environ["CUSTOMER_EVENT_SECRET"]},
        port=port,
    )
    try:
        receiver.start()
        conn = await asyncpg.connect(asyncpg_dsn(db_url))
        try:
            yield conn
        finally:
            await conn.close()
    finally:
        receiver.stop()
