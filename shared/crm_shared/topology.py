"""The parts of the suite: names, packages, local ports, databases and the API prefixes each owns.
Read by the launcher (`make run`), the gateway's default routing table and the tests."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Part:
    name: str
    package: str
    port: int
    database: str | None  # None: the part keeps no database (the gateway)
    env_prefix: str
    prefixes: tuple[str, ...] = ()  # API paths the gateway routes to this part
    subscribes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # publisher -> event patterns
    # Paths under /public/ the gateway routes to this part WITHOUT authentication (GET and POST only, small
    # bodies, rate-limited per client address): pages a message's recipient opens from a signed link.
    public_prefixes: tuple[str, ...] = ()
    # Settings (without the prefix) `make run` gives the part on a developer's machine only, e.g. letting
    # webhooks reach a receiver on localhost; production keeps the safe defaults.
    dev_env: dict[str, str] = field(default_factory=dict)

    @property
    def factory(self) -> str:
        return f"{self.package}.main:create_app"

    @property
    def has_migrations(self) -> bool:
        return (self.directory / "alembic.ini").exists()

    @property
    def directory(self) -> Path:
        """The part's folder (holding pyproject.toml, alembic.ini and migrations/)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"package {self.package} is not installed (run `make install`)")
        return Path(spec.origin).resolve().parent.parent


PUBLIC_PREFIX = "/public/"
GATEWAY = Part("gateway", "crm_gateway", 8000, None, "GATEWAY_")
SERVICES: dict[str, Part] = {
    p.name: p
    for p in (
        Part(
            "customer",
            "crm_customer",
            8001,
            "crm_customer",
            "CUSTOMER_",
            ("/api/v1/customers", "/api/v1/orders", "/api/v1/complaints"),
        ),
        Part(
            "scoring",
            "crm_scoring",
            8002,
            "crm_scoring",
            "SCORING_",
            ("/api/v1/scores",),
            # Purchases and the attributes the composite score reads; merges fold one history into another.
            {"customer": ("order.*", "customer.created", "customer.updated", "customer.merged")},
        ),
        Part(
            "churn",
            "crm_churn",
            8003,
            "crm_churn",
            "CHURN_",
            ("/api/v1/churn",),
            # Churn inferred from the lifecycle and churn risk, value at churn, won back by an order, merges
            # folded; complaints and interactions are watchlist signals and reason evidence.
            {
                "customer": (
                    "order.created",
                    "customer.created",
                    "customer.updated",
                    "customer.merged",
                    "complaint.*",
                    "interaction.logged",
                ),
                "scoring": ("score.changed", "lifecycle.changed"),
            },
        ),
        Part(
            "campaign",
            "crm_campaign",
            8004,
            "crm_campaign",
            "CAMPAIGN_",
            ("/api/v1/segments", "/api/v1/campaigns"),
            # The audience read model (segment fields, consent, caps) and conversions for attribution.
            {
                "customer": (
                    "customer.*",
                    "order.created",
                    "consent.changed",
                    "contact_preferences.changed",
                    "tag.*",
                ),
                "scoring": ("score.changed", "lifecycle.changed", "scores.recomputed"),
                "churn": ("winback.*",),  # segments can target the customers being won back
            },
            # One-click unsubscribe (RFC 8058) and the preference page, opened from signed links in messages.
            public_prefixes=("/public/campaigns",),
        ),
        Part(
            "webhooks",
            "crm_webhooks",
            8005,
            "crm_webhooks",
            "WEBHOOKS_",
            ("/api/v1/webhooks",),
            # What a partner or an integration may subscribe to (crm_webhooks.catalogue); each event becomes
            # signed deliveries to the matching webhook subscriptions.
            {
                "customer": ("customer.*", "order.*", "complaint.*", "consent.changed"),
                "scoring": ("score.changed", "lifecycle.changed"),
                "churn": ("churn.*", "winback.*"),
                "campaign": ("campaign.*",),
            },
            dev_env={"ALLOW_HTTP": "true", "ALLOW_PRIVATE_HOSTS": "true"},  # a receiver on this machine
        ),
        # The web console: no database, no API of its own; it reads the gateway with the user's token.
        Part("console", "crm_console", 8006, None, "CONSOLE_"),
    )
}
# The parts the gateway routes to (an API under /api/ or public pages): its upstreams, whose readiness and
# OpenAPI documents it gathers. The console is not one: it is a client of the gateway.
ROUTED: dict[str, Part] = {name: p for name, p in SERVICES.items() if p.prefixes or p.public_prefixes}
