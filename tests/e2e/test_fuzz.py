"""Fuzzing the whole API as a hostile or careless client would: schemathesis generates requests from the
merged OpenAPI document (valid and invalid data, boundary values, the dictionary in hostile.py) and sends
them through the gateway to every service, running as processes, once as an admin
(JWT) and once as a partner (API key). Every answer must be a non-5xx that matches its documented
schema; a failure names the operation and shows the request (as curl) and the response.

Bounded and derandomized, so it runs in CI on every push in a few minutes: `-m "not fuzz"` skips it
locally, FUZZ_MAX_EXAMPLES=100 fuzzes deeper (the requests differ only by the ids of the seeded rows)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from crm_shared.testing import DatabaseFactory
from tests.customer.helpers import order
from tests.e2e import hostile
from tests.e2e.access_matrix import local_document
from tests.e2e.stack import ALL_SERVICES, PARTNER_SCOPES, Stack, build_stack, running, staff

pytestmark = pytest.mark.fuzz

# Generated requests per operation in the fuzzing phase; the examples and coverage phases add their own
# (deterministic, bounded by the schema). Every operation as admin, the partner's own as partner.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "15"))
CHECKS = [not_a_server_error, response_schema_conformance]
READS = frozenset({"GET", "HEAD", "OPTIONS"})
GENERATION = {
    "max-examples": MAX_EXAMPLES,
    "deterministic": True,  # derandomized: the same requests on every run
    "no-shrink": True,  # report the first failing request as found: shrinking costs minutes
    "database": "none",  # no example database: nothing replayed from an earlier run
    "with-security-parameters": False,  # the test sends the caller's credentials itself
}
CONFIG = {
    "generation": GENERATION,
    "phases": {
        # The coverage phase already sends the schema-violating values, one parameter at a time; random
        # data spends the fuzzing budget on requests that pass validation and reach the code behind it.
        "fuzzing": {"generation": {**GENERATION, "mode": "positive"}},
        "stateful": {"enabled": False},
    },
    "request-timeout": 30,
    # Reproductions show the request as sent (the credentials are the test's own).
    "output": {"sanitization": {"keys-to-sanitize": ["authorization"], "sensitive-markers": ["authorization"]}},
}

# Tests are made per operation when pytest collects, before any server runs: from the merged document
# built in-process; test_the_gateway_serves_the_fuzzed_document proves the gateway serves that document.
DOCUMENT = local_document()
API = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict(CONFIG))
hostile.install(API)


def _partner_may_call(ctx: Any) -> bool:
    """Operations the partner key may call: the others only answer 403 (the access matrix proves it)."""
    access = ctx.operation.definition.raw.get("x-crm-access") or {}
    return access.get("partner") == "own" and set(access.get("scopes", ())) <= set(PARTNER_SCOPES)


@pytest.fixture(scope="module")
async def stack(databases: DatabaseFactory) -> AsyncIterator[Stack]:
    with running(await build_stack(databases, services=ALL_SERVICES)) as stack:
        try:
            hostile.KNOWN.update(await _seed(stack))
            yield stack
        finally:
            hostile.KNOWN.clear()


async def _seed(stack: Stack) -> dict[str, str]:
    """Rows for the generated requests to name: a customer the partner references (so both callers see
    it) with an order, a contact, an interaction, a tag and a complaint."""
    admin = staff("admin")

    def w(headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "Idempotency-Key": str(uuid.uuid4())}

    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:

        async def post(path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
            r = await http.post(path, json=body, headers=w(headers))
            assert r.status_code in (200, 201), f"seeding {path}: {r.status_code} {r.text}"
            return r.json()

        pushed = await post("/api/v1/orders", order("FUZZ-1", "FUZZ-C1"), stack.partner())
        customer = pushed["customer_id"]
        contact = await post(
            f"/api/v1/customers/{customer}/contacts", {"first_name": "Li", "relation": "assistant"}, admin
        )
        interaction = await post(
            f"/api/v1/customers/{customer}/interactions",
            {"channel": "call", "direction": "inbound", "occurred_at": "2026-01-02T10:00:00Z"},
            admin,
        )
        await post("/api/v1/customers/tags", {"key": "fuzz_tag", "label": "Fuzz"}, admin)
        complaint = await post(
            "/api/v1/complaints",
            {"customer_id": customer, "category": "delivery", "severity": "high", "channel": "phone", "subject": "x"},
            admin,
        )
    return {
        "customer_id": customer,
        "survivor_id": customer,
        "order_id": pushed["id"],
        "external_id": "FUZZ-1",
        "contact_id": contact["id"],
        "interaction_id": interaction["id"],
        "complaint_id": complaint["id"],
        "tag_key": "fuzz_tag",
        "category_key": "delivery",
    }


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def _send(case: Any, stack: Stack, session: requests.Session, credentials: dict[str, str]) -> None:
    headers = dict(credentials)
    if case.method.upper() not in READS:
        headers["Idempotency-Key"] = str(uuid.uuid4())  # a write is never mistaken for a replay
    case.call_and_validate(base_url=stack.url, session=session, headers=headers, checks=CHECKS)


async def test_the_gateway_serves_the_fuzzed_document(stack: Stack):
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        served = (await http.get("/openapi.json")).json()
    assert served["paths"] == DOCUMENT["paths"]
    assert served["components"] == DOCUMENT["components"]


# The caller's name as a pytest parameter also puts the operation in the test id (schemathesis names its
# items, but pytest 9 builds node ids from parameters only).
@API.parametrize()
@pytest.mark.parametrize("caller", ["admin"])
def test_fuzz_as_admin(case: Any, caller: str, stack: Stack, session: requests.Session) -> None:
    _send(case, stack, session, staff(caller))


@API.include(_partner_may_call).parametrize()
@pytest.mark.parametrize("caller", ["partner"])
def test_fuzz_as_partner(case: Any, caller: str, stack: Stack, session: requests.Session) -> None:
    _send(case, stack, session, stack.partner())
