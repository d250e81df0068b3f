"""The bare reference for the customer read (issue 13, "the gateway's own cost"): Starlette + asyncpg
answering `GET /api/v1/customers/{id}` with the customer service's own statement and equivalent JSON,
and nothing else (no principal check, no ORM, no pydantic). `bench/gateway/reference.py` starts it as its
own uvicorn process next to the service, on the same database:

    BARE_DATABASE_URL=postgresql://... uvicorn --factory bare_read:create_app   (from bench/gateway)
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_shared.pii import mask_email, mask_phone, mask_text

# What the service's `GET /api/v1/customers/{id}` runs for a live id (crm_customer/customers/repository.py
# READ_BY_ID: select(Customer) joinedload(external_refs)), compiled with the asyncpg dialect: same columns,
# LEFT JOIN and ORDER BY. `reference.py --show-sql` prints the compiled statement to compare.
SQL = (
    "SELECT customers.id, customers.kind, customers.display_name, customers.first_name, customers.last_name, "
    "customers.company_name, customers.email, customers.phone, customers.address, customers.company_id, "
    "customers.payment_terms, customers.brand_contribution, customers.declared_budget, customers.share_of_wallet, "
    "customers.preferred_channel, customers.max_contacts_per_month, customers.time_zone, customers.merged_into, "
    "customers.merged_at, customers.version, customers.created_at, customers.updated_at, "
    "customer_refs_1.partner, customer_refs_1.external_id, customer_refs_1.customer_id, "
    "customer_refs_1.created_at AS created_at_1 \n"
    "FROM customers LEFT OUTER JOIN customer_refs AS customer_refs_1 ON customers.id = customer_refs_1.customer_id \n"
    "WHERE customers.id = $1::UUID ORDER BY customer_refs_1.partner"
)
FIELDS = (
    "id", "kind", "display_name", "first_name", "last_name", "company_name", "email", "phone", "address",
    "external_refs", "company_id", "payment_terms", "brand_contribution", "declared_budget", "share_of_wallet",
    "preferred_channel", "max_contacts_per_month", "time_zone", "merged_into", "version", "created_at", "updated_at",
)  # fmt: skip
# The bench's caller: a partner without pii:read sees its own references and masked contact data.
PARTNER = os.environ.get("BARE_PARTNER", "bench-partner")
_encode = msgspec.json.Encoder(decimal_format="string").encode
NOT_FOUND = b'{"type":"about:blank","title":"Not Found","status":404}'


def to_json(rows: list[asyncpg.Record]) -> dict[str, Any]:
    first = rows[0]
    out = {f: first[f] for f in FIELDS if f != "external_refs"}
    out["external_refs"] = [
        {"partner": r["partner"], "external_id": r["external_id"]} for r in rows if r["partner"] == PARTNER
    ]
    if out["email"] is not None:
        out["email"] = mask_email(out["email"])
    if out["phone"] is not None:
        out["phone"] = mask_phone(out["phone"])
    if (address := out["address"]) is not None:
        out["address"] = {
            k: mask_text(v) if v and k in ("line1", "line2", "postal_code") else v for k, v in address.items()
        }
    return out


async def read(request: Request) -> Response:
    try:
        customer_id = uuid.UUID(request.path_params["customer_id"])
    except ValueError:
        return Response(NOT_FOUND, 404, media_type="application/problem+json")
    rows = await request.app.state.pool.fetch(SQL, customer_id)
    if not rows:
        return Response(NOT_FOUND, 404, media_type="application/problem+json")
    body = to_json(rows)
    return Response(_encode(body), media_type="application/json", headers={"ETag": f'"{body["version"]}"'})


async def health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def _init(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def create_app() -> Starlette:
    url = os.environ["BARE_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The service's engine: pool_size 10 + max_overflow 20 (crm_shared.db).
        app.state.pool = await asyncpg.create_pool(url, min_size=10, max_size=30, init=_init)
        try:
            yield
        finally:
            await app.state.pool.close()

    routes = [Route("/api/v1/customers/{customer_id}", read), Route("/healthz", health)]
    return Starlette(routes=routes, lifespan=lifespan)
