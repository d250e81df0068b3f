"""Rebuilding the purchase copy from the customer service's NDJSON export and customer list gives the same
scores as having received every event."""

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import msgspec
import pytest

from crm_customer.config import Settings as CustomerSettings
from crm_customer.main import SERVICE_DIR as CUSTOMER_DIR
from crm_customer.main import create_app as create_customer_app
from crm_scoring.batch.runner import run_batch
from crm_scoring.config import Settings
from crm_scoring.main import SERVICE_DIR as SCORING_DIR
from crm_scoring.main import create_app
from crm_scoring.purchases.rebuild import customer_service_auth, rebuild
from crm_shared.clients.customer import CustomerClient
from crm_shared.db import create_engine, create_sessionmaker
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.testing import DatabaseFactory, app_client, partner_headers
from tests.scoring.events import deliver

NOW = datetime.now(UTC).replace(microsecond=0)
COMPARED = [
    "purchase_days",
    "order_count",
    "total_spend",
    "spend_12m",
    "recency_days",
    "frequency_trend",
    "spend_trend",
    "r",
    "f",
    "m",
    "rfm_segment",
    "abc_class",
    "gold",
    "drag",
    "composite_score",
    "p_alive",
    "clv",
    "stage",
    "stage_reason",
]


def _order(i: int, customer: int, days_ago: float) -> dict:
    return {
        "external_id": f"O-{i}",
        "customer": {"external_id": f"C-{customer}", "first_name": "Ana", "last_name": f"N{customer}"},
        "ordered_at": (NOW - timedelta(days=days_ago)).isoformat(),
        "currency": "EUR",
        "amount": f"{20 + (i * 37) % 180}.{i % 100:02d}",
        "lines": [{"sku": "S", "quantity": "1", "unit_price": "1.00", "product_line": ["tea", "coffee"][i % 2]}],
    }


def _client(direct: httpx.AsyncClient, settings: Settings) -> CustomerClient:
    """The customer service's client over an in-process app (the trusted network: a direct call)."""
    return CustomerClient(str(direct.base_url), auth=customer_service_auth(settings), transport=direct._transport)


async def _scores(url: str) -> dict:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return {
            r["customer_id"]: {k: r[k] for k in COMPARED} for r in await conn.fetch("SELECT * FROM customer_scores")
        }
    finally:
        await conn.close()


async def test_rebuild_from_the_export_equals_the_event_stream(databases: DatabaseFactory):
    customer_db = await databases.fresh(CUSTOMER_DIR)
    by_events_db, rebuilt_db = await databases.fresh(SCORING_DIR), await databases.fresh(SCORING_DIR)
    customer_app = create_customer_app(CustomerSettings(database_url=customer_db, log_level="WARNING"))
    partner = partner_headers("shop-1", "orders:write", "orders:read", "customers:write", "customers:read")
    async with app_client(customer_app, headers=partner) as shop:
        orders = [_order(i, i % 70, (i * 13) % 700 + 0.5) for i in range(400)]
        r = await shop.post("/api/v1/orders/batch", json={"orders": orders}, headers={"Idempotency-Key": "b1"})
        ids = [row["order_id"] for row in r.json()["results"]]
        cancel = await shop.post(f"/api/v1/orders/{ids[3]}/cancel", json={}, headers={"Idempotency-Key": "c1"})
        refund = await shop.post(
            f"/api/v1/orders/{ids[5]}/refund", json={"amount": "5.00"}, headers={"Idempotency-Key": "r1"}
        )
        assert (cancel.status_code, refund.status_code) == (200, 200)
        customer = (await shop.get(f"/api/v1/orders/{ids[7]}")).json()["customer_id"]
        r = await shop.patch(
            f"/api/v1/customers/{customer}",
            json={"payment_terms": "prepaid", "brand_contribution": "senior_position"},
            headers={
                "If-Match": (await shop.get(f"/api/v1/customers/{customer}")).headers["etag"],
                "Idempotency-Key": "p1",
            },
        )
        assert r.status_code == 200, r.text
    # Path 1: every event the customer service published, delivered to a scoring service.
    conn = await asyncpg.connect(asyncpg_dsn(customer_db))
    events = [
        e
        for r in await conn.fetch("SELECT events FROM outbox_messages ORDER BY id")
        for e in msgspec.json.decode(r["events"])
    ]
    await conn.close()
    async with app_client(create_app(Settings(database_url=by_events_db, log_level="WARNING"))) as scoring:
        for e in events:  # one by one, in publication order
            await deliver(scoring, e)
    # Path 2: a rebuild from the export and the customer list (direct call: the trusted network).
    engine = create_engine(rebuilt_db, application_name="test")
    async with (
        app_client(create_customer_app(CustomerSettings(database_url=customer_db, log_level="WARNING"))) as direct,
        _client(direct, Settings(database_url=rebuilt_db)) as client,
        create_sessionmaker(engine)() as session,
        session.begin(),
    ):
        stats = await rebuild(session, client)
    assert (stats.orders, stats.customers) == (400, 70)
    await engine.dispose()
    # The same batch over both.
    as_of = datetime.now(UTC) + timedelta(seconds=1)
    for url in (by_events_db, rebuilt_db):
        engine = create_engine(url, application_name="test")
        await run_batch(engine, Settings(database_url=url), as_of=as_of)
        await engine.dispose()
    by_events, rebuilt = await _scores(by_events_db), await _scores(rebuilt_db)
    assert len(rebuilt) == 70
    assert rebuilt.keys() == by_events.keys()
    for c in rebuilt:
        for k in COMPARED:
            if k == "p_alive":
                assert rebuilt[c][k] == pytest.approx(by_events[c][k], rel=1e-9), (c, k)
            else:
                assert rebuilt[c][k] == by_events[c][k], (c, k)
    assert {v["composite_score"] for v in rebuilt.values()}  # sanity: scored


async def test_an_interrupted_export_resumes_after_the_last_seq(databases: DatabaseFactory):
    """A transport error mid-stream: the rebuild asks again from the last seq it stored, and loses nothing."""
    customer_db, scoring_db = await databases.fresh(CUSTOMER_DIR), await databases.fresh(SCORING_DIR)
    app = create_customer_app(CustomerSettings(database_url=customer_db, log_level="WARNING"))
    async with app_client(app, headers=partner_headers("shop-1", "orders:write")) as shop:
        batch = {"orders": [_order(i, i % 9, i) for i in range(50)]}
        assert (
            await shop.post("/api/v1/orders/batch", json=batch, headers={"Idempotency-Key": "b"})
        ).status_code == 200
    async with app_client(app) as direct:
        calls: list[str] = []
        real = direct._transport

        class Flaky(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                calls.append(str(request.url.params.get("after")))
                response = await real.handle_async_request(request)
                if len(calls) == 1:
                    body = await response.aread()
                    first_lines = b"\n".join(body.split(b"\n")[:20]) + b"\n"

                    async def broken():
                        yield first_lines
                        raise httpx.ReadError("connection reset")

                    return httpx.Response(200, stream=_Stream(broken()), headers=response.headers)
                return response

        auth = customer_service_auth(Settings(database_url=scoring_db))
        engine = create_engine(scoring_db, application_name="test")
        async with (
            CustomerClient(str(direct.base_url), auth=auth, transport=Flaky()) as flaky,
            create_sessionmaker(engine)() as session,
            session.begin(),
        ):
            stats = await rebuild(session, flaky)
        await engine.dispose()
    assert calls[:2] == ["0", "20"]
    assert (stats.orders, stats.resumed) == (50, 1)


class _Stream(httpx.AsyncByteStream):
    def __init__(self, gen) -> None:
        self._gen = gen

    async def __aiter__(self):
        async for chunk in self._gen:
            yield chunk
