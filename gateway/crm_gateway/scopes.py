"""The scope vocabulary: one `<family>:read` and one `<family>:write` per routed resource family,
where the family is the last segment of a service prefix (`/api/v1/orders` -> `orders`)."""

from __future__ import annotations

from crm_shared.topology import SERVICES

READ_METHODS = frozenset({"GET", "HEAD"})


def family_of(prefix: str) -> str:
    return prefix.rstrip("/").rsplit("/", 1)[-1]


FAMILIES: tuple[str, ...] = tuple(family_of(p) for part in SERVICES.values() for p in part.prefixes)
READ_SCOPES: tuple[str, ...] = tuple(f"{f}:read" for f in FAMILIES)
WRITE_SCOPES: tuple[str, ...] = tuple(f"{f}:write" for f in FAMILIES)
# Scopes the services check on top of the family's: seeing emails, phones and addresses unmasked,
# reading the audit log, and inspecting, replaying and discarding events a service could not apply
# (its dead letters). Only admins hold the last two. OFFERS_READ: seeing and making win-back offers
# (confidential: masked for everyone else); only admins hold it by default.
PII_READ, AUDIT_READ, EVENTS_ADMIN, OFFERS_READ = "pii:read", "audit:read", "events:admin", "offers:read"
EXTRA_SCOPES: tuple[str, ...] = (PII_READ, AUDIT_READ, EVENTS_ADMIN, OFFERS_READ)
ALL_SCOPES: frozenset[str] = frozenset(READ_SCOPES + WRITE_SCOPES + EXTRA_SCOPES)

# JWT `roles` -> scopes (deny by default: a role not listed, or a scope not granted, is refused).
# Contacts, interactions, consent, tags, referrals and the timeline live under /api/v1/customers, so
# `customers:*` covers them; complaints have their own family. Partners are API keys, not JWT roles:
# each key lists its scopes (`make run`'s sample key: PARTNER_SCOPES), and a partner sees only its own
# customers and orders.
_ROLES: dict[str, list[str]] = {
    "admin": sorted(ALL_SCOPES),
    "analyst": list(READ_SCOPES),  # figures, not people: no pii:read
    "agent": [
        PII_READ,  # agents call and write to customers
        "customers:read",
        "customers:write",
        "complaints:read",
        "complaints:write",
        "orders:read",
        "scores:read",
        "churn:read",
    ],
    "marketer": [
        "customers:read",
        "complaints:read",
        "scores:read",
        "churn:read",
        "segments:read",
        "segments:write",
        "campaigns:read",
        "campaigns:write",
    ],
    # Connects other systems: manages every webhook subscription (a partner's API key manages its own);
    # no pii:read, so its subscriptions receive no customer snapshots (crm_webhooks.catalogue).
    "integration": ["webhooks:read", "webhooks:write"],
}
# Filtered so that a family dropped from the topology does not make the defaults invalid.
DEFAULT_ROLE_SCOPES: dict[str, list[str]] = {
    role: [s for s in scopes if s in ALL_SCOPES] for role, scopes in _ROLES.items()
}


def unknown_scopes(scopes: list[str]) -> list[str]:
    return [s for s in scopes if s not in ALL_SCOPES]
