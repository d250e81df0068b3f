"""What the signed-in user may change, so that a form shows only to roles the API would let through. The
gateway maps roles to scopes (GATEWAY_ROLE_SCOPES) and tells no client; the console keeps the write scopes
of each role in CONSOLE_ROLE_WRITES, by default the gateway's defaults. Set both alike: a form shown to a
role the API refuses still ends in the API's 403, in words."""

from __future__ import annotations

from collections.abc import Iterable

# The scopes behind the console's forms (offers:read also guards making a win-back offer).
WRITE_SCOPES = (
    "customers:write",
    "complaints:write",
    "churn:write",
    "offers:read",
    "segments:write",
    "campaigns:write",
)
# crm_gateway/scopes.py's default roles, limited to the scopes above.
DEFAULT_ROLE_WRITES: dict[str, list[str]] = {
    "admin": list(WRITE_SCOPES),
    "analyst": [],
    "agent": ["customers:write", "complaints:write"],
    "marketer": ["segments:write", "campaigns:write"],
}


def writes_of(roles: Iterable[str], role_writes: dict[str, list[str]]) -> frozenset[str]:
    """The write scopes these roles hold together (an unknown role: none)."""
    return frozenset(scope for role in roles for scope in role_writes.get(role, ()))
