"""The principal cannot be forged or stripped on the way to a service, whatever a client sends.

The finding this guards: a client that named `x-crm-client-kind` in its `Connection` header made the
gateway drop its *own* principal headers after setting them, and the service then served the call as an
anonymous caller with every scope. Requests here are written as raw HTTP/1.1 so each spelling (case,
duplicates, Connection tokens) reaches the gateway exactly as sent."""

from __future__ import annotations

import asyncio
import json
import time

import jwt
import pytest

from crm_shared.auth import PRINCIPAL_HEADER, InvalidPrincipalToken, Principal, PrincipalTokens
from crm_shared.testing import TEST_PRINCIPAL_KEY

from .conftest import Keys, LiveServer, principal_seen

pytestmark = pytest.mark.asyncio


async def raw_get(server: LiveServer, path: str, headers: list[tuple[str, str]]) -> tuple[int, dict]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    lines = [f"GET {path} HTTP/1.1", "Host: gw", *(f"{k}: {v}" for k, v in headers)]
    # Connection: close comes last so a client-sent Connection header is the one under test.
    if not any(k.lower() == "connection" for k, _ in headers):
        lines.append("Connection: close")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    # The connection may stay open (a client-sent Connection header without `close`): read by length.
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    fields = dict(line.split(b": ", 1) for line in head.lower().split(b"\r\n")[1:] if b": " in line)
    body = await asyncio.wait_for(reader.readexactly(int(fields[b"content-length"])), 10)
    writer.close()
    return int(head.split(b" ", 2)[1]), json.loads(body) if body else {}


SPOOFS = [
    [("X-CRM-Principal", "forged")],
    [("x-crm-principal", "a"), ("X-Crm-Principal", "b")],
    [("X-CRM-Client-Id", "admin"), ("X-CRM-Client-Kind", "user"), ("X-CRM-Scopes", "customers:write")],
    [("x-crm-anything", "1")],
]
CONNECTION_TOKENS = [
    "keep-alive, x-crm-client-kind",
    "keep-alive, x-crm-principal",
    "X-CRM-PRINCIPAL",
    "x-crm-principal, x-crm-principal, close",
    "keep-alive, X-Crm-Principal , x-request-id, x-forwarded-for",
]


@pytest.mark.parametrize("spoof", SPOOFS, ids=lambda s: "+".join(k for k, _ in s))
async def test_client_sent_internal_headers_never_reach_a_service(
    gateway: LiveServer, keys: Keys, spoof: list[tuple[str, str]]
) -> None:
    status, echoed = await raw_get(gateway, "/api/v1/customers/1", [("Authorization", f"Bearer {keys.reader}"), *spoof])
    assert status == 200, echoed
    principal = principal_seen(echoed)  # also asserts no other x-crm-* header arrived
    assert principal == Principal("partner-reader", "partner", frozenset({"customers:read"}), ("partner",))


@pytest.mark.parametrize("connection", CONNECTION_TOKENS)
async def test_connection_tokens_cannot_strip_the_gateways_principal(
    gateway: LiveServer, keys: Keys, connection: str
) -> None:
    headers = [("Authorization", f"Bearer {keys.reader}"), ("Connection", connection)]
    status, echoed = await raw_get(gateway, "/api/v1/customers/1", headers)
    assert status == 200, echoed
    assert principal_seen(echoed).client_id == "partner-reader"
    # The gateway's own request id and forwarding headers survive too.
    assert len(echoed["headers"]["x-request-id"]) == 32
    assert echoed["headers"]["x-forwarded-for"] == "127.0.0.1"


async def test_a_header_the_client_lists_in_connection_is_still_dropped(gateway: LiveServer, keys: Keys) -> None:
    headers = [("Authorization", f"Bearer {keys.reader}"), ("Connection", "keep-alive, X-Hop"), ("X-Hop", "secret")]
    _, echoed = await raw_get(gateway, "/api/v1/customers/1", headers)
    assert "x-hop" not in echoed["headers"]


async def test_the_token_is_bound_to_the_service_it_was_minted_for(gateway: LiveServer, keys: Keys) -> None:
    """A token one service received cannot be replayed against another (audience), nor outlive 2 minutes."""
    _, echoed = await raw_get(gateway, "/api/v1/customers/1", [("Authorization", f"Bearer {keys.full}")])
    token = echoed["headers"][PRINCIPAL_HEADER]
    verifier = PrincipalTokens([TEST_PRINCIPAL_KEY], issuer="test")
    assert verifier.verify(token, "customer").client_id == "partner-full"
    with pytest.raises(InvalidPrincipalToken, match=r"(?i)audience"):
        verifier.verify(token, "scoring")
    claims = jwt.decode(token, TEST_PRINCIPAL_KEY, algorithms=["HS256"], audience="customer")
    assert claims["iss"] == "gateway"
    assert 0 < claims["exp"] - time.time() <= 120
