"""The access matrix, end to end: the gateway, the customer service and the scoring service as
processes; every operation of the merged OpenAPI document, called by every kind of caller (each JWT
role, an unknown role, a partner API key, nobody), must get the access decision its `x-crm-access`
declares. An endpoint without a declaration fails here (or its service refuses to start). PII reads
are checked per role: unmasked only with pii:read; and the services refuse calls that bypass the
gateway."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from crm_shared.testing import DatabaseFactory, user_headers
from tests.e2e.access_matrix import (
    Caller,
    Operation,
    api_operations,
    callers,
    local_document,
    sample_path,
)
from tests.e2e.stack import ALL_SERVICES, PARTNER, Part, Stack, build_stack, running, staff

PROBLEM_JSON = "application/problem+json"
OPERATIONS = api_operations(local_document())
CALLERS = callers()
# Known bugs, reported and not yet fixed: operation -> (callers answered wrongly, why). The test fails
# on any other wrong answer, and once these are answered as declared (then delete the entry).
KNOWN_WRONG: dict[str, tuple[frozenset[str], str]] = {}


@dataclass
class Suite:
    gateway: Part
    customer: Part
    spec: dict[str, Any] = field(repr=False)  # the merged OpenAPI document the gateway serves
    auth: dict[str, dict[str, str]] = field(repr=False)  # caller name -> credentials


def _credentials(caller: Caller, stack: Stack) -> dict[str, str]:
    if caller.kind == "anonymous":
        return {}
    if caller.kind == "partner":
        return stack.partner()
    return staff(caller.name, subject="matrix-staff")


@pytest.fixture(scope="module")
async def suite(databases: DatabaseFactory) -> AsyncIterator[Suite]:
    # No event deliveries: the matrix's writes stay in the customer service.
    stack = await build_stack(databases, services=ALL_SERVICES, customer_env={"CUSTOMER_SUBSCRIBERS": "[]"})
    with running(stack):
        async with httpx.AsyncClient(timeout=30) as client:
            spec = (await client.get(f"{stack.url}/openapi.json")).json()
        yield Suite(stack.gateway, stack.customer, spec, {c.name: _credentials(c, stack) for c in CALLERS})


@pytest.fixture(scope="module")
async def http(suite: Suite) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=suite.gateway.url, timeout=30) as client:
        yield client


def test_the_gateway_publishes_exactly_the_services_operations(suite: Suite):
    """The matrix below is collected from the services' own documents; the gateway's must match."""
    assert "not included" not in suite.spec["info"]["description"].lower()  # both services answered
    served = {op.id for op in api_operations(suite.spec)}
    assert served == {op.id for op in OPERATIONS}
    assert len(served) > 50  # the whole API, not a stub


async def _call(http: httpx.AsyncClient, op: Operation, path: str, credentials: dict[str, str]) -> httpx.Response:
    headers = dict(credentials)
    body = None
    if op.writes:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    if "requestBody" in op.spec:
        body = b"{}"
        headers["Content-Type"] = "application/json"
    return await http.request(op.method, path, headers=headers, content=body)


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.id)
async def test_every_caller_gets_the_declared_access_decision(op: Operation, suite: Suite, http: httpx.AsyncClient):
    served = next((o for o in api_operations(suite.spec) if o.id == op.id), None)
    assert served is not None, f"{op.id} is missing from the gateway's OpenAPI document"
    access = served.access
    assert access is not None, f"{op.id} has no x-crm-access: every API operation must declare who may call it"
    assert access["partner"] in ("none", "own"), access
    assert access["scopes"], access
    path = sample_path(served, suite.spec)
    wrong: dict[str, str] = {}  # caller name -> what went wrong
    for caller in CALLERS:
        r = await _call(http, served, path, suite.auth[caller.name])
        expected = caller.decision(access)
        if expected == "allowed":
            ok = r.status_code not in (401, 403) and r.status_code < 500
        else:
            ok = r.status_code == expected and r.headers["content-type"] == PROBLEM_JSON
        if not ok:
            wrong[caller.name] = f"expected {expected}, got {r.status_code} {r.text[:300]}"
    known = KNOWN_WRONG.get(op.id)
    unexpected = {name: what for name, what in wrong.items() if known is None or name not in known[0]}
    assert not unexpected, f"{op.id} declares {access}:\n" + "\n".join(f"{n}: {w}" for n, w in unexpected.items())
    if known is not None:
        assert wrong, f"{op.id} now answers as declared: remove it from KNOWN_WRONG"
        pytest.xfail(known[1])


# --- personal data: unmasked only for callers with pii:read ---------------------------------------

ANA = {
    "first_name": "Ana",
    "last_name": "Lopez",
    "email": "ana.lopez@example.com",
    "phone": "+34 600 123 456",
    "address": {"line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES"},
}
ANA_CONTACT = {
    "first_name": "Li",
    "last_name": "Wei",
    "relation": "assistant",
    "email": "li.wei@example.com",
    "phone": "+86 138 0013 8047",
}
# As stored (normalized) and as shown without pii:read.
ANA_REAL = {"email": "ana.lopez@example.com", "phone": "+34600123456", "line1": "Calle Mayor 1", "postal_code": "28013"}
ANA_MASKED = {"email": "a***@example.com", "phone": "***56", "line1": "***", "postal_code": "***"}
CONTACT_REAL = {"email": "li.wei@example.com", "phone": "+8613800138047"}
CONTACT_MASKED = {"email": "l***@example.com", "phone": "***47"}
# Fragments of the real values that must appear nowhere in a masked response.
SECRETS = ("ana.lopez", "600123456", "Calle Mayor", "28013", "li.wei", "13800138047")
READERS = [c for c in CALLERS if c.kind == "user" and "customers:read" in c.scopes]


@dataclass(frozen=True)
class Customer:
    id: str
    contact_id: str


def _write(credentials: dict[str, str]) -> dict[str, str]:
    return {**credentials, "Idempotency-Key": str(uuid.uuid4())}


@pytest.fixture(scope="module")
async def ana(suite: Suite, http: httpx.AsyncClient) -> Customer:
    """A customer with email, phone, address and a contact, created by an admin (no partner's)."""
    admin = suite.auth["admin"]
    created = await http.post("/api/v1/customers", json=ANA, headers=_write(admin))
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    contact = await http.post(f"/api/v1/customers/{customer_id}/contacts", json=ANA_CONTACT, headers=_write(admin))
    assert contact.status_code == 201, contact.text
    return Customer(customer_id, contact.json()["id"])


def _shown(customer: dict[str, Any]) -> dict[str, Any]:
    address = customer["address"] or {}
    return {
        "email": customer["email"],
        "phone": customer["phone"],
        "line1": address.get("line1"),
        "postal_code": address.get("postal_code"),
    }


def _find(page: dict[str, Any], item_id: str) -> dict[str, Any] | None:
    return next((item for item in page["items"] if item["id"] == item_id), None)


@pytest.mark.parametrize("caller", READERS, ids=lambda c: c.name)
async def test_personal_data_is_masked_without_pii_read(
    caller: Caller, suite: Suite, http: httpx.AsyncClient, ana: Customer
):
    credentials = suite.auth[caller.name]
    sees_pii = "pii:read" in caller.scopes
    one = await http.get(f"/api/v1/customers/{ana.id}", headers=credentials)
    listed = await http.get("/api/v1/customers", params={"limit": 100}, headers=credentials)
    contacts = await http.get(f"/api/v1/customers/{ana.id}/contacts", headers=credentials)
    assert [one.status_code, listed.status_code, contacts.status_code] == [200, 200, 200], (one.text, contacts.text)
    in_list = _find(listed.json(), ana.id)
    contact = _find(contacts.json(), ana.contact_id)
    assert in_list is not None
    assert contact is not None
    expected, expected_contact = (ANA_REAL, CONTACT_REAL) if sees_pii else (ANA_MASKED, CONTACT_MASKED)
    assert _shown(one.json()) == expected
    assert _shown(in_list) == expected
    assert {"email": contact["email"], "phone": contact["phone"]} == expected_contact
    assert one.json()["address"]["city"] == "Madrid"  # not personal data on its own: never masked
    assert one.json()["display_name"] == "Ana Lopez"
    if not sees_pii:
        for response in (one, listed, contacts):
            leaked = [s for s in SECRETS if s in response.text]
            assert not leaked, f"{response.request.url.path} shows {leaked} to {caller.name}"


async def test_a_partner_sees_only_the_customers_it_references(suite: Suite, http: httpx.AsyncClient, ana: Customer):
    partner = suite.auth["partner"]
    mine = {
        "first_name": "Bo",
        "email": "bo@example.com",
        "phone": "+46 70 123 45 67",
        "external_refs": [{"partner": PARTNER, "external_id": "M-1"}],
    }
    created = await http.post("/api/v1/customers", json=mine, headers=_write(partner))
    assert created.status_code == 201, created.text
    own = await http.get(f"/api/v1/customers/{created.json()['id']}", headers=partner)
    assert own.status_code == 200
    assert (own.json()["email"], own.json()["phone"]) == ("bo@example.com", "+46701234567")  # it holds pii:read
    listed = (await http.get("/api/v1/customers", params={"limit": 100}, headers=partner)).json()
    assert _find(listed, created.json()["id"]) is not None
    # The admin's customer is not the partner's: unknown to it, exactly like an id that does not exist.
    other = await http.get(f"/api/v1/customers/{ana.id}", headers=partner)
    nowhere = await http.get(f"/api/v1/customers/{uuid.uuid4()}", headers=partner)
    assert (other.status_code, nowhere.status_code) == (404, 404), other.text
    assert (other.json()["type"], other.json()["title"]) == (nowhere.json()["type"], nowhere.json()["title"])
    assert (await http.get(f"/api/v1/customers/{ana.id}/contacts", headers=partner)).status_code == 404
    assert _find(listed, ana.id) is None
    assert not [s for s in SECRETS if s in json.dumps(listed)]


# --- calls that bypass the gateway ----------------------------------------------------------------


async def test_the_service_refuses_calls_without_the_gateways_token(suite: Suite, ana: Customer):
    everything = sorted({s for c in CALLERS for s in c.scopes})
    for_scoring = user_headers("matrix-admin", *everything, service="scoring")
    async with httpx.AsyncClient(base_url=suite.customer.url, timeout=30) as direct:
        for headers in ({}, for_scoring):
            read = await direct.get(f"/api/v1/customers/{ana.id}", headers=headers)
            write = await direct.post("/api/v1/customers", json=ANA, headers=_write(headers))
            assert (read.status_code, write.status_code) == (401, 401), (read.text, write.text)
            assert read.headers["content-type"] == write.headers["content-type"] == PROBLEM_JSON
            assert "ana.lopez" not in read.text
        # The same principal, minted for this service, is let in: the 401s above are about the token.
        mine = user_headers("matrix-admin", *everything, service="customer")
        assert (await direct.get(f"/api/v1/customers/{ana.id}", headers=mine)).status_code == 200


async def test_a_principal_token_sent_by_a_client_is_ignored(suite: Suite, http: httpx.AsyncClient, ana: Customer):
    """The gateway drops any x-crm-principal a client sends; only the one it mints reaches a service."""
    forged = user_headers("intruder", "customers:read", "pii:read")
    anonymous = await http.get(f"/api/v1/customers/{ana.id}", headers=forged)
    assert anonymous.status_code == 401
    analyst = await http.get(f"/api/v1/customers/{ana.id}", headers={**suite.auth["analyst"], **forged})
    assert analyst.status_code == 200
    assert _shown(analyst.json()) == ANA_MASKED  # still the analyst, without pii:read
